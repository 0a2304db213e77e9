"""Record the example traces in assets/traces/ with the embedded model (run once; files are committed).

Each file is what the app's Download gives for a Run of the example with the `default` preset: the
pruned run's Trace plus the explorer section (comparison with the baseline, the example, its answer,
the layer scan), so the app shows every view of it before any model has loaded. Each example runs
twice and the second (warm) run is kept.

    python assets/record_traces.py [max_new_tokens] [task ...]     # e.g. 24 passkey notes
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from app.inputs import RunRequest
from app.serving import EMBEDDED, Limits
from app.session import App, Context, run_job
from app.state import Finished
from app.tracefiles import export_text
from lazyllm import load_model

OUT = Path(__file__).resolve().parent / "traces"


def record(lm, name: str, max_new_tokens: int):
    """The view of a Run of example `name` (a fresh App each time: no cached baseline)."""
    app = App(Limits(max_new_tokens=max_new_tokens), loader=lambda _: lm)
    ex = app.examples[name]
    req = RunRequest.parse(app.limits, ex.prompt, EMBEDDED, ex.preset, None, "lazy", max_new_tokens, "", name)
    view = next(e.result for e in run_job(Context(app), req) if isinstance(e, Finished))
    return replace(view, source=f"recorded example: {name}")


def main(max_new_tokens: int = 24, tasks: list[str] | None = None) -> None:
    OUT.mkdir(exist_ok=True)
    lm = load_model()
    examples = App(Limits(), loader=lambda _: lm).examples
    for i, (name, ex) in enumerate(examples.items(), 1):
        if tasks and ex.task not in tasks:
            continue
        record(lm, name, 2)  # warm-up: the kept run must not pay one-off costs
        view = record(lm, name, max_new_tokens)
        path = OUT / f"{i}_{ex.task}.json"
        path.write_text(export_text(view), encoding="utf-8")
        c = view.comparison
        print(
            f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, TTFT {c.ttft_speedup:.2f}x; {view.verdict()}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 24, sys.argv[2:])
