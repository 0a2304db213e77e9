"""UI callbacks: adapt widget values to the app's jobs, and the jobs' events to views.

Callbacks return (or yield) {View: value} (app/viewnames.py); `wiring.bind` maps the names to
components and raises on an unknown name. Every callback is `guarded`: whatever goes wrong becomes a
status line that says what, never Gradio's generic error, and the next request is served as before.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
import uuid

import gradio as gr

from app import figures as F
from app import markup as M
from app import stats as S
from app import views, walkthrough
from app.inputs import DEFAULT_LAYERS, RunRequest, check_focus, check_integer, preset_rows
from app.serving import release_memory
from app.session import App, run_job, table_job
from app.state import Ended, Finished, Notice, Progress, RunView, Stopped, TableResult
from app.tracefiles import export_trace, load_trace_file
from app.viewnames import View as V
from lazyllm.config import PRESET_NOTES

log = logging.getLogger("lazyllm.app")

CUSTOM = "custom"  # the example selector's value for a prompt of the visitor's own
RECORDED = "recorded:"  # a session state holding a recorded example's name (shared, never evicted)


def guarded(fn):
    """Turn any exception of a callback into an error status (generators too)."""

    def error(e: Exception) -> dict:
        if not isinstance(e, ValueError):
            log.exception("callback %s failed", fn.__name__)
        msg = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {str(e)[:200]}"
        return {V.STATUS: M.status_html(msg, "error")}

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args):
            try:
                yield from fn(*args)
            except Exception as e:
                yield error(e)

        return gen

    @functools.wraps(fn)
    def call(*args):
        try:
            return fn(*args)
        except Exception as e:
            return error(e)

    return call


def _next_batch(worker) -> list:
    """The worker's events so far (at least one: waits for it)."""
    batch = [worker.events.get()]
    while not worker.events.empty():
        batch.append(worker.events.get())
    return batch


class Callbacks:
    """The explorer's callbacks over one App (process-wide state); session state is the RunView."""

    def __init__(self, app: App):
        self.app = app

    def current(self, key) -> RunView | None:
        """The session's view, from the key its state holds; None (a new page) is the recorded example
        shown at start."""
        if key is None:
            return self.app.default_view()
        if not isinstance(key, str):
            raise ValueError("view: this session's state is not a view key")
        view = (
            self.app.recorded_view(key[len(RECORDED) :])
            if key.startswith(RECORDED)
            else self.app.views.get(key)
        )
        if view is None:
            raise ValueError(
                "This run is no longer held by the server (it keeps the most recent ones within "
                "LAZYLLM_VIEW_MEMORY_MB): run it again, or load its trace file."
            )
        return view

    def keep(self, out: dict, key: str | None = None) -> dict:
        """Hold the view the outputs carry in the app's ViewStore; the session state gets its key."""
        if isinstance(out.get(V.VIEW), RunView):
            out[V.VIEW] = self.app.views.put(out[V.VIEW], key)
        return out

    # -- runs ------------------------------------------------------------------------------------

    def runner(self, kind: str):
        """The generator behind Run ("run"), Compare strategies ("strategies") or Sweep ("sweep")."""

        @guarded
        def run(
            prompt,
            model,
            preset,
            rows,
            strategy,
            max_new,
            expected,
            example,
            focus,
            mode,
            request: gr.Request = None,
        ):
            req = RunRequest.parse(
                self.app.limits,
                prompt,
                model,
                preset,
                rows,
                strategy,
                max_new,
                expected,
                None if example == CUSTOM else example,
            )
            focus = check_focus(focus)  # every input is checked before a worker holds a slot
            session = getattr(request, "session_hash", None)
            job = (
                (lambda ctx: run_job(ctx, req)) if kind == "run" else (lambda ctx: table_job(ctx, req, kind))
            )
            worker = self.app.start(session, job, live=kind == "run")
            try:
                if example not in (None, CUSTOM) and self.app.known_answer(req)[0] is None:
                    # the prompt is the visitor's own now: the selector says so, and the example's answer goes
                    yield {V.EXAMPLE: CUSTOM, V.EXPECTED: self.app.known_answer(req)[1]}
                yield from self.follow(worker, kind, focus, mode)
            finally:
                self.app.finish(session, worker)

        return run

    def follow(self, worker, kind: str, focus: str, mode: str):
        """Turn the worker's events into view updates until it ends (steps batched while views draw)."""
        t0, key = time.perf_counter(), uuid.uuid4().hex  # the run's view: one key
        if kind == "run":
            yield {**views.pending_views(), V.STATUS: M.status_html("Starting…", "run", 0.0)}
        else:
            yield {
                V.TABLE: [],
                V.TABLE_PLOT: F.pending_figure("Strategies"),
                V.STATUS: M.status_html("Starting…", "run", 0.0),
            }
        while True:
            batch = _next_batch(worker)
            finishing = any(isinstance(ev, Finished) for ev in batch)  # its views replace any live ones
            out, ended = {}, False
            for ev in batch:
                if isinstance(ev, Ended):
                    ended = True
                elif isinstance(ev, Notice):
                    out[V.STATUS] = M.status_html(ev.text, ev.kind if ev.kind != "info" else "run")
                elif isinstance(ev, Stopped):
                    out.update(self.stopped(ev, focus, mode) if kind == "run" else {})
                    out[V.STATUS] = M.status_html(
                        f"Stopped at {ev.where}. The app is ready for the next run."
                        + (" On screen: what the LazyLLM run computed by then." if ev.view else "")
                    )
                elif isinstance(ev, Progress):
                    redraw = ev.trace is not None and not finishing  # the worker sends a trace to draw
                    out.update(self.progress(ev, t0, focus, mode, redraw, texts=kind == "run"))
                elif isinstance(ev, Finished):
                    out.update(self.finished(ev, focus, mode))
            if out:
                yield self.keep(out, key)
            for ev in batch:  # drawn (Gradio resumes this generator once it has sent the update)
                if isinstance(ev, Progress) and ev.drawn is not None:
                    ev.drawn.set()
            if ended:
                return

    def progress(
        self, ev: Progress, t0: float, focus: str, mode: str, redraw: bool, texts: bool = True
    ) -> dict:
        """The status line; for a Run (`texts`) also the texts so far and, when `redraw`, the live views.
        A table job (compare strategies, sweep) shows only its status: its outputs are the table."""
        text = (
            f"{ev.run} (run {ev.index + 1} of up to {ev.total}): {ev.what} · {time.perf_counter() - t0:.1f} s"
        )
        out = {V.STATUS: M.status_html(text, "run", ev.fraction)}
        if not texts:
            return out
        if ev.trace is None:
            if ev.run == "baseline":
                out[V.BASE_TEXT] = M.text_html([ev.text], None, "baseline (running)")
            return out
        out[V.LAZY_TEXT] = M.text_html([ev.text], None, f"{ev.trace.config_label or ev.run} (running)")
        if redraw:  # the prefill views first, then the run-wide ones now and then
            live = RunView(ev.trace, f"run in progress (step {ev.step})")
            out.update(views.render_run(live, focus))
            out[V.VIEW] = live
            out[V.STEP] = gr.update(maximum=max(ev.trace.num_steps - 1, 1))
            if ev.step == 0:
                out.update(views.render_step(live, 0, focus, mode))
                out[V.STEP] = gr.update(maximum=1, value=0)
                out[V.SOURCE] = M.source_html(live)
        return out

    def finished(self, ev: Finished, focus: str, mode: str) -> dict:
        if isinstance(ev.result, TableResult):
            out = views.table_views(ev.result)
            if ev.partial:  # the rows so far: the status keeps following the job
                return out
            out[V.STATUS] = M.status_html(
                f"Done in {ev.seconds:.1f} s: {len(ev.result.rows) - 1} runs against one baseline, timed "
                "first in this job.",
                "done",
            )
            return out
        view = ev.result
        out = views.render_all(view, 0, focus, mode)
        out[V.DOWNLOAD] = export_trace(view)
        out[V.RECORDED] = gr.update(value=None)  # the Trace files tab no longer names a recorded trace
        out[V.STATUS] = M.status_html(f"Done in {ev.seconds:.1f} s. {view.verdict()}", "done")
        return out

    def stopped(self, ev: Stopped, focus: str, mode: str) -> dict:
        """A stopped Run: its pruned run as far as it went replaces every live and pending view (no
        "running" or "pending" label stays), or, stopped before any step, the texts say so."""
        if ev.view is None:
            return views.stopped_views()
        out = views.render_all(ev.view, 0, focus, mode)
        out[V.VIEW] = ev.view
        out[V.STEP] = gr.update(maximum=max(ev.view.trace.num_steps - 1, 1), value=0)
        return out

    @guarded
    def stop(self, request: gr.Request = None) -> dict:
        """The Stop button: the session's run ends cleanly after its current step."""
        if not self.app.stop(getattr(request, "session_hash", None)):
            return {V.STATUS: M.status_html("Nothing is running.")}
        return {}

    # -- views of the current run ----------------------------------------------------------------

    @guarded
    def on_step(self, view, step, focus, mode) -> dict:
        """The step slider (and the shading mode): the step-aware views."""
        return self._views(view, step, focus, mode, run_wide=False)

    @guarded
    def on_focus(self, view, step, focus, mode) -> dict:
        """A new focus span: the step-aware views and the run-wide ones that follow the span."""
        return self._views(view, step, focus, mode, run_wide=True)

    def _views(self, view, step, focus, mode, run_wide: bool) -> dict:
        view = self.current(view)
        if view is None:
            return {}
        step, focus = check_integer("step", step, 0, 10**6), check_focus(focus)
        out = views.render_step(view, step, focus, mode)
        return {**out, **views.render_run(view, focus)} if run_wide else out

    @guarded
    def jump(self, view, target, focus, mode) -> dict:
        """Move the step slider and every step-aware view to a step (default: the divergence)."""
        view = self.current(view)
        if view is None:
            return {}
        if target in (None, ""):
            if view.divergence is None:
                return {V.STATUS: M.status_html("The texts agree: there is no divergence to go to.")}
            target = view.divergence
        step = S.clamp_step(view.trace, check_integer("step", target, 0, 10**6))
        return {V.STEP: gr.update(value=step), **views.render_step(view, step, check_focus(focus), mode)}

    @guarded
    def turn(self, view, page, delta: int) -> dict:
        page = check_integer("page", page, 0, 100)
        return walkthrough.render(self.current(view), page + delta)

    # -- the run panel -----------------------------------------------------------------------------

    @guarded
    def on_example(self, name) -> dict:
        """An example picked by the visitor: its prompt, answer and preset fill the panel."""
        ex = self.app.examples.get(name)
        if ex is None:
            return {}
        return {
            V.PROMPT: ex.prompt,
            V.EXPECTED: ex.answer,
            V.PRESET: ex.preset,
            **self.preset_fields(ex.preset),
        }

    def preset_fields(self, preset: str) -> dict:
        """The schedule table and the note of a preset, on the loaded model's depth (before any load:
        the embedded model's)."""
        lm = self.app.hub.lm
        layers, types = (lm.num_layers, lm.layer_types) if lm is not None else (DEFAULT_LAYERS, None)
        return {V.SCHEDULE: preset_rows(preset, layers, types), V.PRESET_NOTE: PRESET_NOTES.get(preset, "")}

    @guarded
    def on_prompt_edit(self, prompt, name) -> dict:
        """A prompt edited away from an example is the visitor's: the selector says custom, and the
        example's expected answer is cleared (it belongs to the example's prompt)."""
        ex = self.app.examples.get(name)
        if ex is None or ex.prompt == prompt:
            return {} if ex is not None else {V.EXAMPLE: CUSTOM}
        return {V.EXAMPLE: CUSTOM, V.EXPECTED: ""}

    # -- trace files ---------------------------------------------------------------------------

    def show_file(self, view: RunView, focus: str, mode: str) -> dict:
        out = views.render_all(view, 0, check_focus(focus), mode)
        out[V.STATUS] = M.status_html(f"Loaded {view.source}: no model needed to explore it.", "done")
        out[V.DOWNLOAD] = gr.update(value=None)
        return out

    @guarded
    def load_recorded(self, name, focus, mode) -> dict:
        view = self.app.recorded_view(name) if isinstance(name, str) else None
        if view is None:
            return {}
        return {**self.show_file(view, focus, mode), V.VIEW: RECORDED + name}

    @guarded
    def load_upload(self, path, focus, mode) -> dict:
        if not path:
            return {}
        try:
            view = load_trace_file(path, None, self.app.examples, self.app.limits.budget())
        except (ValueError, OSError) as e:
            gr.Warning(M.message(e, 300))
            return {V.STATUS: M.status_html(f"Could not load the trace: {e}", "error")}
        finally:
            release_memory()  # parsing a large file frees hundreds of MB
        return self.keep(self.show_file(view, focus, mode))
