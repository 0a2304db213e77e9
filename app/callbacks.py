"""Callbacks: adapt the UI's inputs to the `lazyllm` runtime and its outputs to the views.

Callbacks return (or yield) dicts keyed by view names (see `ui.VIEW_OUTPUTS`); `ui.py` maps the names
to components. Nothing here runs at import time: the runtime is imported on first use and the model
loads on the first run, once per process (`serving.ModelHub`). Runs pass through a `serving.RunGate`
that limits how many run at once and answers "busy" when too many wait (limits: app/serving.py).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from app import compare, walkthrough
from app import figures as F
from app.serving import EMBEDDED, Busy, Limits, ModelHub, RunGate, _runtime

log = logging.getLogger("lazyllm.app")

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_LAYERS = 30  # the embedded model's depth, used to show presets before any model loads


# --- inputs -> config ----------------------------------------------------------------------------


def preset_rows(preset: str, num_layers: int = DEFAULT_LAYERS) -> list[list]:
    """The schedule table for a preset on a model with `num_layers` layers."""
    from lazyllm.config import LazyConfig

    cfg = LazyConfig.preset(preset, num_layers=num_layers)
    return [[int(layer), float(k)] for layer, k in cfg.schedule]


def rows_to_schedule(rows) -> tuple[tuple[int, float], ...]:
    """Schedule from table rows [[layer, keep], ...] (blank rows skipped) or text "9:0.7, 19:0.7"."""
    from lazyllm.config import parse_schedule

    if rows is None:
        return ()
    if isinstance(rows, str):
        return parse_schedule(rows)
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    out = []
    for row in rows:
        cells = [c for c in row if c is not None and str(c).strip() not in ("", "nan")]
        if not cells:
            continue
        if len(cells) != 2:
            raise ValueError(f"schedule: each row needs a layer and a keep fraction, got {row!r}")
        try:
            layer, keep = float(cells[0]), float(cells[1])
        except (TypeError, ValueError):
            raise ValueError(f"schedule: layer and keep fraction must be numbers, got {row!r}") from None
        if layer != int(layer):
            raise ValueError(f"schedule: layer must be an integer, got {cells[0]!r}")
        out.append((int(layer), keep))
    return tuple(out)


def make_config(preset: str, schedule, strategy: str, num_layers: int):
    """A concrete LazyConfig: the preset's schedule when `schedule` is empty, else `schedule`."""
    from lazyllm.config import PRESETS, LazyConfig

    preset = preset or "default"
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    sched = rows_to_schedule(schedule)
    if not sched:
        return LazyConfig.preset(preset, num_layers=num_layers, strategy=strategy or "lazy")
    named = sched == LazyConfig.preset(preset, num_layers=num_layers).schedule
    return LazyConfig(
        schedule=sched, strategy=strategy or "lazy", name=preset if named else "custom", num_layers=num_layers
    )


def check_prompt(prompt, limits: Limits, tokenizer=None) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt is empty: type a prompt or pick an example")
    from lazyllm.generate import check_unicode

    check_unicode(prompt)
    if len(prompt) > limits.max_prompt_tokens * 12:
        raise ValueError(
            f"prompt too long: {len(prompt)} characters; this deployment accepts up to "
            f"{limits.max_prompt_tokens} tokens (LAZYLLM_MAX_PROMPT_TOKENS)"
        )
    if tokenizer is not None:
        n = len(tokenizer(prompt)["input_ids"])
        if n > limits.max_prompt_tokens:
            raise ValueError(
                f"prompt too long: {n} tokens; this deployment accepts up to {limits.max_prompt_tokens} "
                "(LAZYLLM_MAX_PROMPT_TOKENS)"
            )
    return prompt


def check_new_tokens(value, limits: Limits) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"max_new_tokens must be an integer in [1, {limits.max_new_tokens}], got {value!r}"
        ) from None
    if n != value and not (isinstance(value, float) and value == n):
        raise ValueError(f"max_new_tokens must be an integer in [1, {limits.max_new_tokens}], got {value!r}")
    if not 1 <= n <= limits.max_new_tokens:
        raise ValueError(f"max_new_tokens must be in [1, {limits.max_new_tokens}], got {n}")
    return n


# --- the run: baseline, then the chosen strategy ------------------------------------------------


@dataclass
class Event:
    """One update of a comparison run: which run, its step and text so far, the trace so far."""

    run: str  # "baseline" | "lazy" | "done"
    step: int
    text: str
    trace: object = None
    summary: dict | None = None


def _token_texts(lm, ids) -> list[str]:
    """Text of each generated token (special tokens such as end-of-turn left out)."""
    return [lm.tokenizer.decode([int(i)], skip_special_tokens=True) for i in ids]


def compare_stream(lm, prompt: str, cfg, max_new_tokens: int):
    """Run `cfg`, then the baseline, on the same prompt; yield an Event per step and a final one.

    The pruned run goes first so its prefill views show while the baseline still runs; the model
    was warmed up when it loaded (`ModelHub`), so neither run pays first-call costs.
    """
    rt = _runtime()
    kw = dict(max_new_tokens=max_new_tokens, instrument=True, return_logits=True, chat=True, seed=0)
    results = {}
    for run, config in (("lazy", cfg), ("baseline", rt.LazyConfig.preset("baseline"))):
        for upd in rt.generate_stream(lm, prompt, config=config, **kw):
            yield Event(run, upd.step, upd.text, upd.trace if run == "lazy" else None)
            if upd.done:
                results[run] = upd.result
    base, lazy = results["baseline"], results["lazy"]
    summary = compare.summarize(
        base,
        lazy,
        _token_texts(lm, base.token_ids),
        _token_texts(lm, lazy.token_ids),
        cfg.strategy,
        cfg.describe(),
    )
    summary["model"] = getattr(lm, "name", "")
    summary["prompt_tokens"] = lazy.trace.prompt_len if lazy.trace is not None else None
    yield Event("done", len(lazy.token_ids), lazy.text, lazy.trace, summary)


class App:
    """The app's process-wide state: limits, the shared model, the run gate, the examples."""

    def __init__(self, limits: Limits | None = None, loader=None):
        self.limits = limits or Limits.from_env()
        self.hub = ModelHub(self.limits, loader)
        self.gate = RunGate(self.limits.concurrency, self.limits.max_queue)
        self.examples = load_examples()
        self.recorded = recorded_traces(self.examples)
        self._recorded_views: dict[Path, dict] = {}
        self._workers: dict[str, RunWorker] = {}  # the running worker of each browser session

    def recorded_view(self, path: Path, source: str) -> dict:
        """A recorded example trace, parsed once per process and shared (views never modify it)."""
        if path not in self._recorded_views:
            self._recorded_views[path] = load_trace_file(path, source, self.examples)
        return self._recorded_views[path]

    # -- API ---------------------------------------------------------------------------------

    def run_api(
        self,
        prompt: str,
        preset: str = "default",
        schedule: str = "",
        strategy: str = "lazy",
        max_new_tokens: int = 32,
    ) -> dict:
        """Run the baseline and LazyLLM on `prompt`; return the comparison summary as JSON.

        preset: baseline | paper | default | aggressive. schedule: "layer:keep, ..." (e.g.
        "9:0.7, 19:0.7"; empty = the preset's). strategy: lazy | static | random.
        """
        try:
            prompt, n_new = self._check_inputs(prompt, max_new_tokens)
            with self._slot():
                lm = self.hub.get(EMBEDDED)
                check_prompt(prompt, self.limits, lm.tokenizer)
                cfg = make_config(preset, schedule, strategy, lm.num_layers)
                final = None
                for ev in compare_stream(lm, prompt, cfg, n_new):
                    final = ev
        except (ValueError, Busy) as e:
            raise gr.Error(str(e)) from None
        return {k: v for k, v in final.summary.items() if k not in ("baseline_tokens", "lazy_tokens")}

    def _check_inputs(self, prompt, max_new_tokens):
        return check_prompt(prompt, self.limits), check_new_tokens(max_new_tokens, self.limits)

    @contextmanager
    def _slot(self):
        self.gate.enter()
        try:
            yield
        finally:
            self.gate.leave()

    # -- UI run --------------------------------------------------------------------------------

    def run_ui(
        self, prompt, model, preset, schedule, strategy, max_new_tokens, example, step, focus, mode,
        request: gr.Request = None,
    ):  # fmt: skip
        """Generator behind the Run button: queue position, progress, live views, then every view.

        The run itself happens in a RunWorker thread that holds the gate's slot; this generator only
        turns its events into views. If the page goes away mid-run the worker still ends and frees
        the slot; Stop (`stop_ui`) ends it at the next step.
        """
        try:
            prompt, n_new = self._check_inputs(prompt, max_new_tokens)
        except ValueError as e:
            yield {"status": status_html(str(e), "error")}
            return
        worker = RunWorker(self, prompt, model, preset, schedule, strategy, n_new)
        key = getattr(request, "session_hash", None)
        if key:
            self._workers[key] = worker
        ex = self.examples.get(example) if example else None
        if ex is not None and ex["prompt"] != prompt:
            ex = None  # the user edited the prompt: the example's answer no longer applies
        worker.start()
        try:
            yield from self._follow(worker, ex, focus, mode, n_new)
        finally:
            worker.stop.set()  # closed early: the worker stops at its next step
            if key and self._workers.get(key) is worker:
                del self._workers[key]

    def stop_ui(self, request: gr.Request = None) -> None:
        """The Stop button: the session's run ends cleanly after its current step."""
        worker = self._workers.get(getattr(request, "session_hash", None))
        if worker is not None:
            worker.stop.set()

    def _follow(self, worker: RunWorker, ex, focus, mode, n_new: int):
        t0, last_plot = time.perf_counter(), 0.0
        while True:
            batch = [worker.events.get()]
            while not worker.events.empty():  # catch up: one update for all the steps already done
                batch.append(worker.events.get())
            out, ended = {}, False
            for kind, payload in batch:
                if kind == "end":
                    ended = True
                elif kind in ("wait", "info", "error"):
                    out["status"] = status_html(payload, kind if kind != "info" else "run")
                elif kind == "stopped":
                    out["status"] = status_html(
                        f"Stopped after {payload}. The app is ready for the next run."
                    )
                else:
                    ev = payload
                    out["status"] = status_html(_progress_text(ev, n_new, t0), "run", _progress(ev, n_new))
                    if ev.run == "baseline":
                        out["base_text"] = compare.text_html([ev.text], None, "baseline (running)")
                    elif ev.run == "lazy":
                        out["lazy_text"] = compare.text_html([ev.text], None, f"{worker.strategy} (running)")
                        if ev.trace is not None and (ev.step == 0 or time.perf_counter() - last_plot > 1.5):
                            last_plot = time.perf_counter()
                            out.update(live_views(ev, ex, focus, mode))
                    else:
                        out.update(final_views(ev, ex, focus, mode, time.perf_counter() - t0))
            if out:
                yield out
            if ended:
                return


class RunWorker(threading.Thread):
    """One comparison run in its own thread: waits for a gate slot, loads the model, runs both.

    Posts (kind, payload) events: ("wait" | "info" | "error", text), ("event", Event),
    ("stopped", where), and finally ("end", None). Holding the slot here, not in the UI generator,
    means an abandoned page can never keep it.
    """

    def __init__(self, app: App, prompt, model, preset, schedule, strategy, n_new: int):
        super().__init__(daemon=True, name="lazyllm-run")
        self.app, self.prompt, self.model, self.n_new = app, prompt, model, n_new
        self.preset, self.schedule, self.strategy = preset, schedule, strategy or "lazy"
        self.events: queue.Queue = queue.Queue()
        self.stop = threading.Event()

    def post(self, kind: str, payload=None) -> None:
        self.events.put((kind, payload))

    def run(self) -> None:
        try:
            queued = self.app.gate.enter(
                on_wait=lambda n: self.post("wait", f"Queued: {n} run(s) waiting for the model…"),
                cancelled=self.stop.is_set,
            )
            if not queued:
                self.post("stopped", "waiting in the queue")
                return
            try:
                self._run_held()
            finally:
                self.app.gate.leave()
        except (ValueError, Busy) as e:  # bad input (ours or the runtime's), or a full queue
            self.post("error", str(e))
        except Exception as e:  # keep serving; say what broke
            log.exception("run failed")
            self.post("error", f"The run failed: {type(e).__name__}: {e}")
        finally:
            self.post("end")

    def _run_held(self) -> None:
        self.post("info", "Loading the model (first run only)…" if self.app.hub.lm is None else "Starting…")
        lm = self.app.hub.get(self.model)
        check_prompt(self.prompt, self.app.limits, lm.tokenizer)
        cfg = make_config(self.preset, self.schedule, self.strategy, lm.num_layers)
        stream = compare_stream(lm, self.prompt, cfg, self.n_new)
        try:
            for ev in stream:
                self.post("event", ev)
                if self.stop.is_set() and ev.run != "done":
                    self.post(
                        "stopped", f"{'LazyLLM' if ev.run == 'lazy' else 'the baseline'} step {ev.step}"
                    )
                    return
        finally:
            stream.close()


def live_views(ev: Event, example, focus, mode) -> dict:
    """Views of the pruned run while it decodes: everything at prefill, then the run-wide ones."""
    view = make_view(ev.trace, None, example, f"run in progress (step {ev.step})")
    out = {**render_run(view, focus), "view": view, "step": gr.update(maximum=max(ev.trace.num_steps - 1, 1))}
    if ev.step == 0:  # prefill: the views of the step everyone wants to see first
        out.update(render_step(view, 0, focus, mode))
        out["step"] = gr.update(maximum=1, value=0)
        out["base_text"] = compare.text_html([], None, "baseline (runs next)")
        out["metrics"] = '<div class="lz-note">The baseline runs after LazyLLM…</div>'
        out["source"] = source_html(view)
    return out


def final_views(ev: Event, example, focus, mode, seconds: float) -> dict:
    """Every view of the finished comparison, and the trace file to download."""
    view = make_view(ev.trace, ev.summary, example, "run")
    out = render_all(view, 0, focus, mode)
    out["download"] = export_trace(view)
    s = ev.summary
    out["status"] = status_html(
        f"Done in {seconds:.1f} s: TTFT speedup {s['ttft_speedup']:.2f}×, generation speedup "
        f"{s['generation_speedup']:.2f}×, {s['token_agreement']:.0%} of tokens agree with the baseline.",
        "done",
    )
    return out


def _progress(ev: Event, n_new: int) -> float:
    done = ev.step + 1 if ev.run == "lazy" else n_new + ev.step + 1
    return min(done / (2 * n_new), 1.0) if ev.run != "done" else 1.0


def _progress_text(ev: Event, n_new: int, t0: float) -> str:
    what = "prefill" if ev.step == 0 else f"decode step {ev.step}/{n_new - 1}"
    name = "baseline" if ev.run == "baseline" else "LazyLLM"
    return f"{name}: {what} · {time.perf_counter() - t0:.1f} s"


def status_html(text: str, kind: str = "info", progress: float | None = None) -> str:
    import html

    bar = ""
    if progress is not None:
        bar = f'<div class="lz-bar"><div style="width:{100 * progress:.0f}%"></div></div>'
    return f'<div class="lz-status lz-{kind}" data-kind="{kind}">{html.escape(text)}{bar}</div>'


# --- views ---------------------------------------------------------------------------------------


def make_view(trace, summary: dict | None, example: dict | None, source: str) -> dict:
    """What the views draw: a trace, the comparison summary if any, the example's answer if any."""
    return {"trace": trace, "summary": summary, "example": example, "source": source}


def resolve_focus(view: dict | None, focus: str):
    """A span [a, b) from "120-135" (positions, inclusive) or text to find in the prompt."""
    if not view or not focus or not str(focus).strip():
        return None
    trace = view["trace"]
    m = re.fullmatch(r"\s*(\d+)\s*(?:[-:–]\s*(\d+))?\s*", str(focus))
    if m:
        a = int(m.group(1))
        b = int(m.group(2) or a)
        return F.clamp_span(trace, (min(a, b), max(a, b) + 1), trace.num_steps - 1)
    return F.find_span(trace, str(focus))


def safe(name: str, fn, *args, kind: str = "figure"):
    """Call a view function; on error return a stand-in that says so (the other views still draw)."""
    try:
        return fn(*args)
    except Exception as e:
        log.exception("view %s failed", name)
        msg = f"{type(e).__name__}: {e}"
        if kind == "figure":
            return F.error_figure(name, msg)
        if kind == "rows":
            return []
        import html

        return f'<div class="lz-status lz-error">{html.escape(name)} could not be drawn: {html.escape(msg)}</div>'


def answer_ok(view: dict) -> bool | None:
    ex, s = view.get("example"), view.get("summary")
    if not ex or not s or not ex.get("answer"):
        return None
    return ex["answer"].lower() in s["lazy_text"].lower()


def render_step(view: dict | None, step, focus, mode) -> dict:
    """Views of one step: survival heatmap, tokens per layer, importance, top tokens, the prompt."""
    if not view:
        return {}
    trace = view["trace"]
    step = F.clamp_step(trace, step)
    span = resolve_focus(view, focus)
    return {
        "survival": safe("Token survival", F.survival_heatmap, trace, step, span),
        "per_layer": safe("Tokens per layer", F.selected_per_layer, trace, step),
        "importance": safe("Importance", F.importance_plot, trace, step, span),
        "top_table": safe("Top tokens", F.top_tokens, trace, step, kind="rows"),
        "prompt_html": safe("Prompt", F.prompt_html, trace, step, mode or "importance", span, kind="html"),
    }


def render_run(view: dict | None, focus) -> dict:
    """Views over all steps: evidence, revivals, cache sizes, cumulative computations."""
    if not view:
        return {}
    trace = view["trace"]
    span = resolve_focus(view, focus)
    return {
        "evidence_plot": safe("Evidence", F.evidence_plot, trace, span),
        "evidence_md": safe("Evidence", F.evidence_summary, trace, span, answer_ok(view), kind="html"),
        "revivals": safe("Revivals", F.revivals_heatmap, trace, span),
        "revived_table": safe("Revived tokens", F.revived_tokens, trace, kind="rows"),
        "cache_sizes": safe("Cache sizes", F.cache_sizes_plot, trace),
        "cumulative": safe("Cumulative computations", F.cumulative_compute_plot, trace),
    }


def render_summary(view: dict | None) -> dict:
    """The side-by-side panel; a trace loaded without a summary says so."""
    s = view and view.get("summary")
    if not s:
        msg = "This trace has no baseline comparison (loaded from a file): run a prompt to compare."
        return {
            "metrics": f'<div class="lz-note">{msg}</div>',
            "timing_plot": F.empty_figure("Speed", msg),
            "fidelity_plot": F.empty_figure("Fidelity", msg),
            "base_text": "",
            "lazy_text": "",
        }
    div = s.get("first_divergence")
    return {
        "metrics": safe("Metrics", compare.metrics_html, s, kind="html"),
        "timing_plot": safe("Speed", F.timing_plot, s),
        "fidelity_plot": safe("Fidelity", F.fidelity_plot, s["kl_per_step"], s["top1_per_step"], div),
        "base_text": safe(
            "Baseline text", compare.text_html, s["baseline_tokens"], None, "baseline", kind="html"
        ),
        "lazy_text": safe(
            "Text", compare.text_html, s["lazy_tokens"], div, s.get("strategy", "lazy"), kind="html"
        ),
    }


def render_all(view: dict | None, step, focus, mode) -> dict:
    if not view:
        return {}
    trace = view["trace"]
    step = F.clamp_step(trace, step)
    out = {**render_summary(view), **render_step(view, step, focus, mode), **render_run(view, focus)}
    out["view"] = view
    out["step"] = gr.update(maximum=max(trace.num_steps - 1, 1), value=step)
    out.update(walkthrough.render(view, 0))
    out["walk_page"] = 0
    out["source"] = source_html(view)
    return out


def source_html(view: dict) -> str:
    t = view["trace"]
    return (
        f'<div class="lz-note">Exploring: <b>{view["source"]}</b> · model {t.model or "?"} · '
        f"{t.prompt_len} prompt tokens · {t.num_steps} steps · {t.num_layers} layers · strategy {t.strategy} · "
        f"schedule {', '.join(f'{a}:{b:g}' for a, b in t.schedule) or 'none'}</div>"
    )


# --- examples, recorded traces, export / import --------------------------------------------------


def load_examples() -> dict[str, dict]:
    """assets/examples/*.json: {name, task, prompt, answer, answer_span}."""
    out = {}
    for path in sorted((ASSETS / "examples").glob("*.json")):
        try:
            ex = json.loads(path.read_text(encoding="utf-8"))
            out[ex["name"]] = ex
        except (OSError, ValueError, KeyError):
            log.exception("bad example file %s", path)
    return out


def recorded_traces(examples: dict[str, dict] | None = None) -> dict[str, Path]:
    """assets/traces/<n>_<task>.json, named after the example of that task."""
    by_task = {ex.get("task"): name for name, ex in (examples or {}).items()}
    out = {}
    for p in sorted((ASSETS / "traces").glob("*.json")):
        task = p.stem.split("_", 1)[-1]
        out[by_task.get(task, p.stem.replace("_", " "))] = p
    return out


def load_trace_file(path, source: str | None = None, examples: dict | None = None) -> dict:
    """A view from a trace JSON file (ours, with an optional "explorer" section, or a bare Trace)."""
    from lazyllm.trace import MAX_TRACE_BYTES, Trace

    if path is None:
        raise ValueError("no file given")
    path = Path(path if isinstance(path, (str, os.PathLike)) else path.name)  # a path or an upload object
    size = path.stat().st_size
    if size > MAX_TRACE_BYTES:
        raise ValueError(f"trace file too large: {size / 1e6:.1f} MB (limit {MAX_TRACE_BYTES / 1e6:.0f} MB)")
    data = path.read_bytes()
    trace = Trace.from_json(data)
    extra = json.loads(data).get("explorer") or {}
    if not isinstance(extra, dict):
        extra = {}
    summary = extra.get("summary") if isinstance(extra.get("summary"), dict) else None
    example = (examples or {}).get(extra.get("example")) if extra.get("example") else None
    return make_view(trace, summary, example, source or path.name)


def inspect_trace(trace_file) -> dict:
    """The `/inspect_trace` API: what a trace file holds, or gr.Error saying what is wrong with it."""
    try:
        view = load_trace_file(trace_file)
    except (ValueError, OSError) as e:
        raise gr.Error(f"could not load the trace: {e}") from None
    t = view["trace"]
    return {
        "model": t.model,
        "num_layers": t.num_layers,
        "prompt_len": t.prompt_len,
        "num_steps": t.num_steps,
        "strategy": t.strategy,
        "schedule": [[int(a), float(b)] for a, b in t.schedule],
        "compute_fraction": t.prompt_compute_fraction(),
        "revivals": int(F.revivals_grid(t).sum()),
        "has_summary": view["summary"] is not None,
    }


def export_trace(view: dict, path: str | Path | None = None) -> str:
    """Write the view's trace (plus the comparison summary) to `path` (default: a temp file)."""
    data = view["trace"].to_dict()
    ex = view.get("example")
    data["explorer"] = {"summary": view.get("summary"), "example": ex["name"] if ex else None}
    if path is None:
        folder = Path(tempfile.gettempdir()) / "lazyllm-explorer"
        folder.mkdir(exist_ok=True)
        path = folder / f"trace-{uuid.uuid4().hex[:8]}.json"
    path = Path(path)
    path.write_text(json.dumps(data, separators=(",", ":"), allow_nan=False), encoding="utf-8")
    return str(path)
