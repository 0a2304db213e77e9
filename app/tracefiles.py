"""Trace files: export a run (trace + comparison + scan), load one back, inspect one (API).

A file is a `lazyllm.Trace` JSON with an optional "explorer" section: the comparison with the baseline,
the example's name, the known answer, the layer scan and notes. Loading checks, before any figure is
built, what the file may cost (Budget): layers, tokens and steps tied to real models and this
deployment's limits. Exports stay below EXPORT_BYTES, well under the upload limit, so every export
loads back: long runs keep scores at fewer steps, and the file says what was left out.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.state import Example, RunView, answer_kind
from lazyllm import Comparison, Trace
from lazyllm.trace import MAX_TRACE_BYTES, parse_json_object

log = logging.getLogger("lazyllm.app")

EXPORT_BYTES = 16 * 1024 * 1024  # < MAX_TRACE_BYTES (20 MiB) < the app's upload limit (30 MB)
EXPORTS_KEPT, EXPORT_MAX_AGE_S = 64, 3600
MAX_TEXT = 200  # characters of an example name / expected answer read from a file


@dataclass(frozen=True)
class Budget:
    """What a trace may cost the server: checked before any figure is built."""

    max_layers: int = 256  # deeper than any released model
    max_prompt_tokens: int = 4096  # the deployment's prompt limit
    max_steps: int = 1025  # prefill + 1024 decode steps (figures bin steps beyond their cell budget)

    def check(self, t: Trace) -> None:
        limits = (
            ("num_layers", t.num_layers, self.max_layers),
            ("prompt_len", t.prompt_len, self.max_prompt_tokens),
            ("steps", t.num_steps, self.max_steps),
        )
        for name, value, limit in limits:
            if value > limit:
                raise ValueError(
                    f"trace: {name} is {value}; this explorer draws traces with {name} <= {limit}"
                )


def gradio_cache_dir() -> Path:
    """Gradio's cache folder: files written here are served without a second copy."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def export_folder() -> Path:
    folder = gradio_cache_dir() / "lazyllm-exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prune_exports(folder: Path, keep: int = EXPORTS_KEPT, max_age_s: float = EXPORT_MAX_AGE_S) -> None:
    """Delete exports older than max_age_s, and the oldest beyond `keep` files."""
    files = sorted(folder.glob("trace-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    for i, p in enumerate(files):
        if i >= keep or now - p.stat().st_mtime > max_age_s:
            p.unlink(missing_ok=True)


# --- export ---------------------------------------------------------------------------------------


def export_dict(view: RunView, notes: tuple[str, ...] = (), steps: bool = True) -> dict:
    """The file's content: the trace, and the explorer section (comparison, example, answer, scan)."""
    data = view.trace.to_dict(steps=steps)
    data["explorer"] = {
        "comparison": view.comparison.to_dict() if view.comparison is not None else None,
        "example": view.example.name if view.example else None,
        "expected": view.expected,
        "scan": None if view.scan is None else np.round(view.scan.astype(np.float64), 7).tolist(),
        "notes": [*view.notes, *notes],
        "inputs": view.inputs,  # the run panel's inputs (app.links.request_record): loading fills them in
    }
    return data


def export_text(view: RunView, limit: int = EXPORT_BYTES) -> str:
    """JSON of the view within `limit` bytes. Scores are most of a long run's file: if it is too large,
    keep them at prefill, the divergence step and every k-th step (k = 2, 4, ...), and say so.

    The smallest k that fits is searched from the coarsest down, and a step's scores are written only
    when a candidate keeps them: the work is bounded by the limit, not by the size of the run."""
    steps = view.trace.steps
    n = len(steps)
    # each step as ASCII JSON (characters = bytes) with its scores last, left open: {...,"scores":S}
    bare = []
    for s in steps:
        d = s.to_dict(scores=False)
        del d["scores"]
        bare.append(_dumps(d)[:-1] + ',"scores":')
    scores: dict[int, str] = {}  # step -> its scores table as JSON, written when a candidate keeps it

    def kept(k: int) -> set[int]:
        return {0, *range(0, n, k)} | ({view.divergence} if view.divergence is not None else set())

    def head(keep: set[int]) -> str:
        shown = ", ".join(map(str, sorted(keep)[:12])) + ("…" if len(keep) > 12 else "")
        note = f"importance scores kept at {len(keep)} of {n} steps ({shown}) to keep the file loadable"
        return _dumps(export_dict(view, () if len(keep) == n else (note,), steps=False))[:-1] + ',"steps":['

    empty = sum(map(len, bare)) + 3 * n + max(n - 1, 0)  # every step with "{}}" and the commas

    def size(keep: set[int]) -> int:  # len(text(keep)), without building it
        for i in keep - scores.keys():
            scores[i] = _dumps(steps[i].scores_dict())
        return len(head(keep)) + empty + sum(len(scores[i]) - 2 for i in keep) + 2

    def text(keep: set[int]) -> str:
        body = ",".join(bare[i] + (scores[i] if i in keep else "{}") + "}" for i in range(n))
        return head(keep) + body + "]}"

    ks = [1]
    while ks[-1] <= n:
        ks.append(ks[-1] * 2)
    best = None
    for k in reversed(ks):  # coarsest first; each finer candidate keeps a superset of steps
        if size(kept(k)) > limit:
            break
        best = kept(k)
    if best is None:
        raise ValueError(f"this run's trace is over {limit // 2**20} MB even without scores: not exported")
    return text(best)


def _dumps(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def export_trace(view: RunView, folder: Path | None = None) -> str:
    """Write the export once (in Gradio's cache, so it is not copied again); prune old exports."""
    folder = folder or export_folder()
    prune_exports(folder)
    path = folder / f"trace-{uuid.uuid4().hex[:12]}.json"
    path.write_text(export_text(view), encoding="utf-8")
    return str(path)


# --- load -----------------------------------------------------------------------------------------


def load_trace_file(
    path, source: str | None = None, examples: dict[str, Example] | None = None, budget: Budget | None = None
) -> RunView:
    """A RunView from a trace file (ours, or a bare `Trace.to_json()`); ValueError says what is wrong."""
    if path is None:
        raise ValueError("no file given")
    path = Path(path if isinstance(path, (str, os.PathLike)) else path.name)
    size = path.stat().st_size
    if size > MAX_TRACE_BYTES:
        raise ValueError(f"trace file too large: {size / 1e6:.1f} MB (limit {MAX_TRACE_BYTES / 1e6:.0f} MB)")
    data = parse_json_object(path.read_bytes())  # parsed once: the trace and the explorer section
    trace = Trace.from_object(data)
    (budget or Budget()).check(trace)
    return _view(trace, data.get("explorer"), source or f"file {path.name}", examples or {})


def _view(trace: Trace, extra, source: str, examples: dict[str, Example]) -> RunView:
    """The explorer section, each part checked on its own: a bad part is left out with a note."""
    if extra is None:
        return RunView(trace, source)
    if not isinstance(extra, dict):
        return RunView(trace, source, notes=("the file's explorer section is not an object: ignored",))
    notes: list[str] = []
    comparison = _part(notes, "comparison", lambda v: None if v is None else Comparison.from_dict(v), extra)
    name = _part(notes, "example", lambda v: v if v is None or isinstance(v, str) else _bad(), extra)
    example = examples.get(name) if isinstance(name, str) else None
    expected = _part(notes, "expected", lambda v: "" if v is None else _text(v), extra) or ""
    if example is not None and not expected:
        expected = example.answer
    scan = _part(notes, "scan", lambda v: None if v is None else _scan(v, trace), extra)
    file_notes = _part(notes, "notes", lambda v: tuple(_text(x) for x in (v or [])[:8]), extra) or ()
    kind = example.kind if example is not None and expected == example.answer else answer_kind(expected)
    inputs = _part(notes, "inputs", _inputs, extra)
    return RunView(trace, source, comparison, example, expected, scan, (*file_notes, *notes), kind, inputs)


def _part(notes: list[str], key: str, read, extra: dict):
    try:
        return read(extra.get(key))
    except (ValueError, TypeError) as e:
        notes.append(f"the file's {key} could not be read ({str(e)[:120]}): left out")
        return None


def _bad():
    raise ValueError("wrong type")


def _text(v) -> str:
    if not isinstance(v, str):
        raise ValueError("expected text")
    return v[:MAX_TEXT]


INPUT_TEXT = {"prompt": 200_000, "example": MAX_TEXT, "expected": MAX_TEXT, "model": MAX_TEXT}
INPUT_TEXT.update(preset=MAX_TEXT, schedule=10_000, strategy=MAX_TEXT)


def _inputs(v) -> dict | None:
    """The file's inputs section, its types checked (its values are checked as a Run's are when they
    fill the run panel: app.links.request_from_record)."""
    if v is None:
        return None
    if not isinstance(v, dict):
        raise ValueError("expected an object")
    out = {}
    for key, limit in INPUT_TEXT.items():
        value = v.get(key)
        if value is not None and not (isinstance(value, str) and len(value) <= limit):
            raise ValueError(f"{key}: expected text of at most {limit} characters")
        out[key] = value
    n = v.get("new_tokens")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
        raise ValueError("new_tokens: expected a positive integer")
    return {**out, "new_tokens": n}


def _scan(v, trace: Trace) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.shape != (trace.num_layers, trace.prompt_len) or not np.isfinite(a).all():
        raise ValueError(f"expected {trace.num_layers} x {trace.prompt_len} finite numbers")
    return a


def inspect_trace(path, budget: Budget | None = None) -> dict:
    """What a trace file holds (the `/inspect_trace` API)."""
    view = load_trace_file(path, budget=budget)
    t = view.trace
    return {
        "model": t.model,
        "num_layers": t.num_layers,
        "prompt_len": t.prompt_len,
        "num_steps": t.num_steps,
        "config": t.config_label or t.config_name,
        "strategy": t.strategy,
        "schedule": [[int(a), float(b)] for a, b in t.schedule],
        "compute_fraction": t.prompt_compute_fraction(),
        "revivals": int(sum(len(v) for s in t.steps for v in s.revived.values())),
        "has_comparison": view.comparison is not None,
        "notes": list(view.notes),
    }
