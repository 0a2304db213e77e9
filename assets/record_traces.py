"""Record the example traces in assets/traces/ with the embedded model (run once; files are committed).

Each file is a `lazyllm` Trace JSON plus an "explorer" section (the baseline comparison and the
example's name), so the app shows every view of it before any model has loaded.

    python assets/record_traces.py [max_new_tokens] [task ...]     # e.g. 32 passkey code
"""

from __future__ import annotations

import sys
from pathlib import Path

from app import callbacks as cb
from lazyllm import LazyConfig, generate, load_model

OUT = Path(__file__).resolve().parent / "traces"


def retime(lm, prompt, cfg, max_new_tokens: int, summary: dict, repeats: int = 2) -> None:
    """Replace the instrumented timings by the best of `repeats` plain runs of each, alternating,
    so a busy machine disturbs the recorded speedups as little as possible."""
    best = {}
    for _ in range(repeats):
        for run, config in (("baseline", LazyConfig.preset("baseline")), ("lazy", cfg)):
            t = generate(lm, prompt, config=config, max_new_tokens=max_new_tokens).timings
            old = best.get(run, (float("inf"), float("inf")))
            best[run] = (min(old[0], t.ttft_s), min(old[1], t.total_s))
    for run, (ttft, total) in best.items():
        summary[f"{run}_ttft_s"], summary[f"{run}_total_s"] = ttft, total
    summary["ttft_speedup"] = best["baseline"][0] / best["lazy"][0]
    summary["generation_speedup"] = best["baseline"][1] / best["lazy"][1]


def main(max_new_tokens: int = 32, tasks: list[str] | None = None) -> None:
    OUT.mkdir(exist_ok=True)
    lm = load_model()
    first = next(iter(cb.load_examples().values()))["prompt"]
    generate(lm, first, max_new_tokens=2)  # warm-up: the first timed run must not pay one-off costs
    for i, (name, ex) in enumerate(cb.load_examples().items(), 1):
        if tasks and ex["task"] not in tasks:
            continue
        cfg = LazyConfig.preset("default", num_layers=lm.num_layers)
        final = None
        for ev in cb.compare_stream(lm, ex["prompt"], cfg, max_new_tokens):
            final = ev
        retime(lm, ex["prompt"], cfg, max_new_tokens, final.summary)
        view = cb.make_view(final.trace, final.summary, ex, f"recorded: {name}")
        path = cb.export_trace(view, OUT / f"{i}_{ex['task']}.json")
        s = final.summary
        print(
            f"{path}: {Path(path).stat().st_size / 1e6:.2f} MB, TTFT {s['ttft_speedup']:.2f}x, "
            f"agreement {s['token_agreement']:.0%}, answer ok {ex['answer'].lower() in s['lazy_text'].lower()}: "
            f"{s['lazy_text'][:60]!r}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 32, sys.argv[2:])
