"""The teacher-forced run from scratch vs forked from the free run, on the embedded model.

The pruned run is fed the baseline's tokens: up to the step where the free-running pruned run's tokens
part from the baseline's, both runs were fed the same tokens, so the forked run (`fork_from`) reuses
those steps and runs only the ones after. Both are run alternately, `--repeats` times, in this
process; the table gives medians of wall-clock seconds and the largest logit difference.

    python scripts/bench_forced.py [--repeats 3] [--threads 1] [--preset paper]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from lazyllm import LazyConfig, generate, load_model
from lazyllm.compare import first_divergence

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--preset", default="paper")
    p.add_argument("--example", default="5_harbour_notes.json", help="a file of assets/examples")
    p.add_argument("--new-tokens", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model()
    prompt = json.loads((ROOT / "assets" / "examples" / args.example).read_text(encoding="utf-8"))["prompt"]
    cfg = LazyConfig.preset(args.preset, num_layers=lm.num_layers)
    base = generate(lm, prompt, None, max_new_tokens=args.new_tokens, return_logits=True)
    n = len(base.token_ids)
    fresh_s, forked_s, diff = [], [], 0.0
    for _ in range(args.repeats):
        free = generate(lm, prompt, cfg, max_new_tokens=args.new_tokens, return_logits=True, forkable=True)
        t0 = time.perf_counter()
        fresh = generate(
            lm, base.prompt_ids, cfg, max_new_tokens=n, return_logits=True, forced_tokens=base.token_ids
        )
        t1 = time.perf_counter()
        forked = generate(
            lm, base.prompt_ids, cfg, max_new_tokens=n, return_logits=True, forced_tokens=base.token_ids, fork_from=free
        )  # fmt: skip
        t2 = time.perf_counter()
        fresh_s.append(t1 - t0)
        forked_s.append(t2 - t1)
        diff = max(diff, float((fresh.logits - forked.logits).abs().max()))
    part = first_divergence(base.token_ids, free.token_ids)
    print(f"{args.example}, `{args.preset}`, {len(base.prompt_ids)} prompt tokens, {n} forced steps, "
          f"the texts part at step {part}; {args.threads} thread(s), median of {args.repeats}")  # fmt: skip
    print("| forced run | seconds | max abs logit diff |\n|---|---|---|")
    print(f"| from scratch | {statistics.median(fresh_s):.2f} | |")
    print(f"| forked from the free run | {statistics.median(forked_s):.2f} | {diff:.1e} |")
    if part is None:
        print("the texts agree: teacher_forced returns the free run itself, no forced run is needed")
    else:
        print(f"speedup {statistics.median(fresh_s) / statistics.median(forked_s):.1f}x")


if __name__ == "__main__":
    main()
