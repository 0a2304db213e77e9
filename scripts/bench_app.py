"""How long the explorer's Run, Compare strategies and Sweep take, against plain generation.

On the embedded model, in this process, `--repeats` rounds (plus one warm-up round, not counted). A
round times, back to back: a plain baseline generation and a plain pruned generation (`generate`, no
trace, no scan, no checkpoints: the floor a Run is measured against), then Run, Compare strategies and
Sweep through the app's own callbacks (app/callbacks.py: the worker thread, the live views, every
finished view built as for a page; only Gradio's JSON and the browser are left out), each with a fresh
App (an empty scan cache) for Run and the same App for the tables, as a visitor's session goes.

Targets (issue "every number on screen is LazyLLM's"): Run <= 1.5 x (baseline + pruned plain
generation); Compare <= 3 Runs; Sweep <= 5 Runs. Ratios are of medians.

    python scripts/bench_app.py [--repeats 3] [--threads 2] [--new-tokens 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from app.callbacks import Callbacks
from app.serving import EMBEDDED, Limits
from app.session import App
from lazyllm import LazyConfig, generate, load_model


def timed(fn, *args, **kw) -> float:
    t0 = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t0


def job(app: App, kind: str, prompt: str, new_tokens: int) -> dict:
    """A Run / Compare / Sweep as a page triggers it; returns its last update (raises on an error)."""
    args = (prompt, EMBEDDED, "default", None, "lazy", new_tokens, "", None, "", "importance")
    outs = list(Callbacks(app).runner(kind)(*args))
    if 'data-kind="done"' not in outs[-1].get("status", ""):
        raise RuntimeError(f"{kind} did not finish: {outs[-1].get('status')}")
    return outs[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument("--example", default="Pass-key retrieval", help="an example of assets/examples")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model()
    limits = Limits(max_new_tokens=max(args.new_tokens, 16))
    prompt = App(limits, loader=lambda _: lm).examples[args.example].prompt
    cfg = LazyConfig.preset("default")
    times: dict[str, list[float]] = {k: [] for k in ("baseline", "pruned", "Run", "Compare", "Sweep")}
    for r in range(args.repeats + 1):  # round 0 warms up and is not counted
        app = App(limits, loader=lambda _: lm)
        row = {
            "baseline": timed(generate, lm, prompt, max_new_tokens=args.new_tokens),
            "pruned": timed(generate, lm, prompt, cfg, max_new_tokens=args.new_tokens),
            "Run": timed(job, app, "run", prompt, args.new_tokens),
            "Compare": timed(job, app, "strategies", prompt, args.new_tokens),
            "Sweep": timed(job, app, "sweep", prompt, args.new_tokens),
        }
        print(f"round {r}: " + ", ".join(f"{k} {v:.1f} s" for k, v in row.items()), flush=True)
        if r:
            for k, v in row.items():
                times[k].append(v)
    med = {k: statistics.median(v) for k, v in times.items()}
    plain = med["baseline"] + med["pruned"]
    tokens = len(lm.tokenizer(prompt)["input_ids"])
    print(
        f"\n{args.example}: ~{tokens} prompt tokens, {args.new_tokens} new tokens, {args.threads} threads, "
        f"median of {args.repeats} rounds\n"
    )
    print("| action | median s | ratio | target |\n|---|---|---|---|")
    print(f"| plain generation: baseline + default | {plain:.2f} | 1 | |")
    print(f"| Run | {med['Run']:.2f} | {med['Run'] / plain:.2f} x plain | <= 1.5 |")
    print(f"| Compare strategies | {med['Compare']:.2f} | {med['Compare'] / med['Run']:.2f} Runs | <= 3 |")
    print(f"| Sweep | {med['Sweep']:.2f} | {med['Sweep'] / med['Run']:.2f} Runs | <= 5 |")


if __name__ == "__main__":
    main()
