"""How long the explorer's "Compare strategies" takes against one Run, on the embedded model.

A Run is the pruned run, the baseline (not cached yet) and, if the texts diverged, the teacher-forced
twin; "Compare strategies" runs lazy, static and random at the same budget (each with its forced twin
when it diverged) against the baseline the Run cached. Both go through the app's own jobs
(app/session.py), in this process, alternating, `--repeats` times; the ratio is of medians.

    python scripts/bench_app.py [--repeats 3] [--threads 2] [--new-tokens 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from app.inputs import RunRequest
from app.serving import EMBEDDED, Limits
from app.session import App, Context, run_job, table_job
from app.state import Finished
from lazyllm import load_model


def timed(job) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = next(e.result for e in job if isinstance(e, Finished))
    return time.perf_counter() - t0, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument(
        "--example", default="Pass-key retrieval", help="an example of assets/examples (~1k tokens)"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model()
    runs, tables = [], []
    for r in range(args.repeats + 1):  # the first round warms up and is not counted
        app = App(Limits(max_new_tokens=args.new_tokens), loader=lambda _: lm)  # an empty baseline cache
        ex = app.examples[args.example]
        req = RunRequest.parse(app.limits, ex.prompt, EMBEDDED, "default", None, "lazy", args.new_tokens)
        run_s, view = timed(run_job(Context(app), req))
        table_s, table = timed(table_job(Context(app), req, "strategies"))
        if r:
            runs.append(run_s)
            tables.append(table_s)
        print(f"round {r}: Run {run_s:.1f} s, Compare strategies {table_s:.1f} s", flush=True)
    tokens = view.trace.prompt_len
    ratio = statistics.median(tables) / statistics.median(runs)
    print(f"\n{args.example}: {tokens} prompt tokens, {args.new_tokens} new tokens, {args.threads} threads, "
          f"{args.repeats} rounds")  # fmt: skip
    print("| action | median s | runs |\n|---|---|---|")
    print(f"| Run (pruned + baseline + forced twin if diverged) | {statistics.median(runs):.2f} | 2-3 |")
    print(f"| Compare strategies (baseline reused) | {statistics.median(tables):.2f} | 3-6 |")
    print(f"\nCompare strategies / Run = {ratio:.2f} (target <= 3)")
    for row in table.rows:
        print(
            f"  {row['label']:<9} {row['answer']:<28} KL {row['mean_kl']:.3g}  TTFT {row['ttft_speedup']:.2f}x"
        )


if __name__ == "__main__":
    main()
