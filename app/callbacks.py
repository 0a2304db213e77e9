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
from dataclasses import replace

import gradio as gr

from app import figures as F
from app import markup as M
from app import stats as S
from app import views, walkthrough
from app.inputs import DEFAULT_LAYERS, RunRequest, check_focus, check_integer, preset_rows
from app.links import (
    is_link,
    link_params,
    link_query,
    parse_link,
    prompt_digest,
    request_from_record,
    request_record,
    trace_inputs,
)
from app.serving import EMBEDDED, release_memory
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
        self.running: dict[str | None, str] = {}  # session -> the digest of the prompt its job runs

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
            picked = self.picked(prompt, example)
            inputs = (prompt, model, preset, rows, strategy, max_new, expected)
            req = picked or RunRequest.parse(self.app.limits, *inputs, None if example == CUSTOM else example)
            focus = check_focus(focus)  # every input is checked before a worker holds a slot
            session = getattr(request, "session_hash", None)
            job = (
                (lambda ctx: run_job(ctx, req)) if kind == "run" else (lambda ctx: table_job(ctx, req, kind))
            )
            worker = self.app.start(session, job, live=kind == "run")
            self.running[session] = prompt_digest(req.prompt)
            try:
                if picked is not None:  # the example picked just before: what runs is in the panel
                    yield self.panel(picked)
                elif example not in (None, CUSTOM) and self.app.known_answer(req)[0] is None:
                    # the prompt is the visitor's own now: the selector says so, and the example's answer goes
                    yield {V.EXAMPLE: CUSTOM, V.EXPECTED: self.app.known_answer(req)[1]}
                yield from self.follow(worker, kind, focus, mode, req)
            finally:
                self.app.finish(session, worker)
                if self.running.get(session) == prompt_digest(req.prompt):
                    del self.running[session]

        return run

    def follow(self, worker, kind: str, focus: str, mode: str, req: RunRequest):
        """Turn the worker's events into view updates until it ends (steps batched while views draw)."""
        t0, key = time.perf_counter(), uuid.uuid4().hex  # the run's view: one key
        inputs, digest = request_record(req), prompt_digest(req.prompt)
        if kind == "run":
            yield {
                **views.pending_views(),
                V.STALE_NOTE: "",
                V.STATUS: M.status_html("Starting…", "run", 0.0),
            }
        else:
            yield {
                V.TABLE: [],
                V.TABLE_PLOT: F.pending_figure("Strategies"),
                V.TABLE_PROMPT: digest,
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
                    ev = replace(ev, view=replace(ev.view, inputs=inputs)) if ev.view is not None else ev
                    out.update(self.stopped(ev, focus, mode) if kind == "run" else {})
                    out[V.STATUS] = M.status_html(
                        f"Stopped at {ev.where}. The app is ready for the next run."
                        + (" On screen: what the LazyLLM run computed by then." if ev.view else "")
                    )
                elif isinstance(ev, Progress):
                    redraw = ev.trace is not None and not finishing  # the worker sends a trace to draw
                    out.update(self.progress(ev, t0, focus, mode, redraw, kind == "run", inputs))
                elif isinstance(ev, Finished):
                    out.update(self.finished(ev, focus, mode))
                    if isinstance(ev.result, TableResult):  # the rows are this prompt's
                        out[V.TABLE_PROMPT] = digest
            if out:
                yield self.keep(out, key)
            for ev in batch:  # drawn (Gradio resumes this generator once it has sent the update)
                if isinstance(ev, Progress) and ev.drawn is not None:
                    ev.drawn.set()
            if ended:
                return

    def progress(
        self,
        ev: Progress,
        t0: float,
        focus: str,
        mode: str,
        redraw: bool,
        texts: bool = True,
        inputs: dict | None = None,
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
        out[V.LAZY_TEXT] = M.text_html([ev.text], None, f"{M.run_name(ev.trace)} (running)")
        if redraw:  # the prefill views first, then the run-wide ones now and then
            live = RunView(ev.trace, f"run in progress (step {ev.step})", inputs=inputs)
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

    # -- the run panel: examples, trace files and links fill it; the screen says whose results it shows

    def panel(self, req: RunRequest, prompt_known: bool = True) -> dict:
        """The run panel holding `req`'s inputs (prompt_known=False: the prompt box is emptied)."""
        ex = self.app.examples.get(req.example) if req.example else None
        named = prompt_known and ex is not None and ex.prompt == req.prompt
        rows = self.preset_fields(req.preset)
        if req.schedule is not None and not isinstance(req.schedule, str):
            rows[V.SCHEDULE] = [[int(layer), float(k)] for layer, k in req.schedule]
        return {
            V.EXAMPLE: req.example if named else CUSTOM,
            V.PROMPT: req.prompt if prompt_known else "",
            V.EXPECTED: req.expected,
            V.MODEL: req.model or EMBEDDED,
            V.PRESET: req.preset,
            **rows,
            V.STRATEGY: req.strategy or "lazy",
            V.MAX_NEW: req.new_tokens,
        }

    def view_request(self, view: RunView) -> tuple[RunRequest | None, bool, str]:
        """The inputs that made `view` (its own, else read from its trace), checked as a Run's are:
        (request, whether its prompt is known, a note on what could not be restored)."""
        record = dict(view.inputs or trace_inputs(view))
        notes = []
        limit = self.app.limits.max_new_tokens
        if isinstance(record.get("new_tokens"), int) and record["new_tokens"] > limit:
            notes.append(f"it ran {record['new_tokens']} new tokens; this deployment runs at most {limit}")
            record["new_tokens"] = limit
        if record.get("model") and record["model"] not in self.app.limits.model_choices():
            notes.append(f"its model {record['model']!r} is not offered here: the embedded model is chosen")
            record["model"] = None
        if record.get("example") and record["example"] not in self.app.examples:
            record["example"] = None  # an example of another deployment: its prompt is the file's own
        known = bool(record.get("prompt")) or bool(record.get("example"))
        if not known:
            notes.append("the file does not hold its prompt's text: the prompt box is empty")
            record["prompt"] = "(the trace's prompt)"  # a stand-in: only the other inputs are read
        try:
            req = request_from_record(record, self.app.limits, self.app.examples)
        except ValueError as e:
            return None, False, f"its inputs could not be restored ({M.message(e, 200)})"
        return req, known, "; ".join(notes)

    def show_view(self, view: RunView, key, focus, mode, what: str) -> dict:
        """`view` on screen and the run panel holding the inputs that made it."""
        out = views.render_all(view, 0, check_focus(focus), mode)
        req, known, note = self.view_request(view)
        if req is not None:
            out.update(self.panel(req, known))
        out[V.VIEW] = key if key is not None else view
        out[V.STALE_NOTE] = ""
        out[V.DOWNLOAD] = gr.update(value=None)
        note = (
            f" Its inputs are in the run panel{': ' + note if note else ''}."
            if req
            else f" The run panel is unchanged: {note}."
        )
        out[V.STATUS] = M.status_html(f"{what}.{note}", "done")
        return out

    @guarded
    def on_example(self, name, focus, mode) -> dict:
        """An example picked by the visitor: its recorded run on screen, with the inputs it ran with; an
        example without one fills the panel with its prompt, answer and preset (the screen check then
        marks the results on screen as another prompt's)."""
        ex = self.app.examples.get(name)
        if ex is None:
            return {}
        if self.app.recorded_view(name) is not None:
            return self.load_recorded(name, focus, mode)
        return {
            V.PROMPT: ex.prompt,
            V.EXPECTED: ex.answer,
            V.PRESET: ex.preset,
            **self.preset_fields(ex.preset),
        }

    def picked(self, prompt, example) -> RunRequest | None:
        """A Run pressed right after an example was picked, before its prompt reached the panel (the
        prompt is still another example's, unedited): the picked example's inputs run."""
        ex = self.app.examples.get(example) if isinstance(example, str) else None
        others = {e.prompt for e in self.app.examples.values()} - {ex.prompt if ex else None}
        if ex is None or prompt == ex.prompt or prompt not in others:
            return None
        view = self.app.recorded_view(example)
        req, known, _ = self.view_request(view) if view is not None else (None, False, "")
        if req is not None and known:
            return req
        tokens = self.app.limits.default_new_tokens
        return RunRequest.parse(
            self.app.limits, ex.prompt, None, ex.preset, None, None, tokens, ex.answer, ex.name
        )

    def preset_fields(self, preset: str) -> dict:
        """The schedule table and the note of a preset, on the loaded model's depth (before any load:
        the embedded model's)."""
        lm = self.app.hub.lm
        layers, types = (lm.num_layers, lm.layer_types) if lm is not None else (DEFAULT_LAYERS, None)
        return {V.SCHEDULE: preset_rows(preset, layers, types), V.PRESET_NOTE: PRESET_NOTES.get(preset, "")}

    @guarded
    def on_prompt_edit(self, prompt, name, key, table_prompt, request: gr.Request = None) -> dict:
        """A prompt edited away from an example is the visitor's: the selector says custom, and the
        example's expected answer is cleared (it belongs to the example's prompt). The screen check
        follows (results of another prompt are marked, the table of another prompt goes)."""
        out = self.screen(prompt, key, table_prompt, request)
        ex = self.app.examples.get(name)
        if ex is None or ex.prompt == prompt:
            return out if ex is not None else {**out, V.EXAMPLE: CUSTOM}
        return {**out, V.EXAMPLE: CUSTOM, V.EXPECTED: ""}

    @guarded
    def screen(self, prompt, key, table_prompt, request: gr.Request = None) -> dict:
        """Whose results are on screen: a note above them (and dimmed views) when the run on screen was
        of another prompt than the panel's, and the Strategies table cleared when its rows were."""
        digest = prompt_digest(prompt) if isinstance(prompt, str) else None
        out = {}
        if table_prompt is not None and table_prompt != digest:
            out[V.TABLE] = []
            out[V.TABLE_PLOT] = F.empty_figure("Strategies", TABLE_GONE)
            out[V.TABLE_PROMPT] = None
        if self.running.get(getattr(request, "session_hash", None)) == digest:
            return {**out, V.STALE_NOTE: ""}  # this prompt runs now: what comes is its
        try:
            view = self.current(key)
        except ValueError:
            return out  # the run on screen is no longer held: nothing to compare with
        if view is None:
            return out
        shown = (view.inputs or trace_inputs(view)).get("prompt")
        out[V.STALE_NOTE] = "" if shown == prompt else stale_html(view, shown is None)
        return out

    # -- trace files ---------------------------------------------------------------------------

    @guarded
    def load_recorded(self, name, focus, mode) -> dict:
        view = self.app.recorded_view(name) if isinstance(name, str) else None
        if view is None:
            return {}
        out = self.show_view(view, RECORDED + name, focus, mode, f"Loaded the {view.source}")
        return {**out, V.RECORDED: name}

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
        what = f"Loaded {view.source}: no model needed to explore it"
        return self.keep({**self.show_view(view, None, focus, mode, what), V.RECORDED: gr.update(value=None)})

    # -- links ---------------------------------------------------------------------------------

    @guarded
    def share(self, prompt, model, preset, rows, strategy, max_new, expected, example, key) -> dict:
        """A link to the panel's inputs (the query part: the page makes it absolute and copies it). It
        names the run on screen too when that run is of these inputs' prompt and the server holds it."""
        example = None if example == CUSTOM else example
        try:
            req = RunRequest.parse(
                self.app.limits, prompt, model, preset, rows, strategy, max_new, expected, example
            )
            run = None
            if isinstance(key, str) and not key.startswith(RECORDED):
                view = self.app.views.get(key)
                if view is not None and view.inputs is not None and view.inputs.get("prompt") == req.prompt:
                    run = key
            return {V.LINK: link_query(link_params(req, self.app.examples, run))}
        except ValueError as e:  # no link: the box holds none (an older link would be of other inputs)
            return {V.LINK: "", V.STATUS: M.status_html(f"No link: {M.message(e, 300)}", "error")}

    @guarded
    def open_link(self, focus, mode, request: gr.Request = None) -> dict:
        """A page opened from a link: its inputs fill the run panel; the run it names, if the server
        still holds it, or the example's recorded run, is shown. A bad link says what is wrong."""
        params = dict(getattr(request, "query_params", None) or {})
        if not is_link(params):
            return {}
        try:
            req, run = parse_link(params, self.app.limits, self.app.examples)
        except ValueError as e:
            return {V.STATUS: M.status_html(f"This link could not be opened: {M.message(e, 300)}", "error")}
        out = {}
        view = self.app.views.get(run) if run else None
        if view is not None:
            out = self.show_view(view, run, focus, mode, "Opened the linked run")
        elif req.example and self.app.recorded_view(req.example) is not None:
            out = self.load_recorded(req.example, focus, mode)
        gone = (
            " (the run it named is no longer held by the server: press Run)" if run and view is None else ""
        )
        out.update(self.panel(req))
        out[V.STATUS] = M.status_html(f"Opened a link: its inputs are in the run panel{gone}.", "done")
        return out


TABLE_GONE = "The table was of another prompt: press Compare strategies or Sweep for this one."
DIMMED = (  # the views a note from another prompt dims
    "lz-verdict lz-source lz-base-text lz-lazy-text lz-metrics lz-speed-plot lz-fidelity-plot "
    "lz-survival-plot lz-per-layer-plot lz-importance-plot lz-prompt-html lz-top-table lz-scan-md "
    "lz-scan-plot lz-evidence-md lz-evidence-table lz-evidence-plot lz-revivals-plot lz-cumulative-plot "
    "lz-cache-plot lz-revived-table lz-split-html lz-split-plot lz-walk-md lz-walk-plot"
).split()


def stale_html(view: RunView, unknown: bool) -> str:
    """The note over results of another prompt, and the style that dims them while it is up."""
    whose = "a trace whose prompt is not known" if unknown else "another prompt"
    text = (
        f"the results on screen ({view.source}) are of {whose}, not of the prompt in the box. Press Run "
        "to see this prompt's."
    )
    dim = ", ".join(f"#{i}" for i in DIMMED)
    return (
        '<div class="lz-status lz-wait" id="lz-stale-note" data-stale="1"><b>From a previous prompt:</b> '
        f"{M.esc(text, 400)}</div>"
        f"<style>{dim} {{ opacity: 0.4; filter: grayscale(0.7); }}</style>"
    )
