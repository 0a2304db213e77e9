"""The explorer's events: which component triggers which callback, reading and writing which views.

Callbacks (app/callbacks.py) return {View: value}; `bind` maps the names to components and raises on
a name that is not among the event's outputs.
"""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from app.callbacks import Callbacks
from app.gradio_compat import named
from app.layout import Components
from app.markup import message
from app.serving import Busy
from app.session import App
from app.tracefiles import inspect_trace
from app.viewnames import (
    PANEL,
    RUN_INPUTS,
    RUN_WIDE,
    STEP_VIEWS,
    TABLE_OUTPUTS,
    VIEW_OUTPUTS,
    WALK,
)
from app.viewnames import (
    View as V,
)
from lazyllm.config import PRESETS

log = logging.getLogger("lazyllm.app")

QUIET = dict(api_visibility="private", show_progress="hidden")
RUNS = dict(concurrency_limit=None, concurrency_id="runs", show_progress="hidden", api_visibility="private")


def bind(fn, c: Components, outputs: list):
    """Wrap a callback returning/yielding {View: value} so it returns {component: value} for `outputs`.

    An unknown name, or one that is not among the event's outputs, raises: a typo is a bug, not a
    blank view.
    """
    wanted = {id(o) for o in outputs}

    def to_components(out):
        result = {}
        for k, v in (out or {}).items():
            if k not in c or id(c[k]) not in wanted:
                raise KeyError(f"callback {fn.__name__} set {k!r}, which is not an output of this event")
            result[c[k]] = v
        return result or gr.skip()  # nothing to change: no output touched (an empty dict is a value)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args):
            for out in fn(*args):
                yield to_components(out)

        return gen

    @functools.wraps(fn)
    def call(*args):
        return to_components(fn(*args))

    return call


def outs(c: Components, names) -> list:
    """The components of `names` (a KeyError names a View without a component)."""
    return [c[k] for k in names]


def wire(app: App, cb: Callbacks, c: Components) -> None:
    """Every event of the page (call inside the gr.Blocks that holds `c`)."""
    _wire_run(cb, c)
    _wire_views(cb, c)
    _wire_files(cb, c)
    _wire_api(app, c)


def _wire_run(cb: Callbacks, c: Components) -> None:
    """Examples and presets fill the run panel (visitor's choices only); the buttons run jobs."""

    def on_preset(preset):
        if preset not in PRESETS:
            return gr.skip(), gr.skip()
        fields = cb.preset_fields(preset)
        return fields[V.SCHEDULE], fields[V.PRESET_NOTE]

    panel = outs(c, PANEL)
    c[V.EXAMPLE].input(bind(cb.on_example, c, panel), c[V.EXAMPLE], panel, **QUIET)
    edited_out = [c[V.EXAMPLE], c[V.EXPECTED]]  # an example's answer goes when its prompt is edited
    edited = bind(cb.on_prompt_edit, c, edited_out)
    for trigger in (c[V.PROMPT].input, c[V.PROMPT].blur):  # blur: a paste made before the events were wired
        trigger(edited, [c[V.PROMPT], c[V.EXAMPLE]], edited_out, **QUIET)
    c[V.PRESET].input(on_preset, c[V.PRESET], [c[V.SCHEDULE], c[V.PRESET_NOTE]], **QUIET)
    ins = outs(c, RUN_INPUTS)
    views_out, table_out = outs(c, VIEW_OUTPUTS), outs(c, TABLE_OUTPUTS)
    for button, kind, out in (
        (V.RUN, "run", views_out),
        (V.COMPARE, "strategies", table_out),
        (V.SWEEP, "sweep", table_out),
    ):
        c[button].click(named(bind(cb.runner(kind), c, out), f"run_{kind}"), ins, out, **RUNS)
    c[V.STOP].click(bind(cb.stop, c, [c[V.STATUS]]), None, c[V.STATUS], **QUIET)


def _wire_views(cb: Callbacks, c: Components) -> None:
    """The step slider, the focus span, the jump and the walkthrough redraw only what they change."""
    view = c[V.VIEW]
    step_in = [view, c[V.STEP], c[V.FOCUS], c[V.MODE]]
    step_outs = outs(c, (*STEP_VIEWS, V.STATUS))
    focus_outs = outs(c, (*STEP_VIEWS, *RUN_WIDE, V.STATUS))
    jump_outs = outs(c, (V.STEP, *STEP_VIEWS, V.STATUS))
    c[V.STEP].release(bind(cb.on_step, c, step_outs), step_in, step_outs, **QUIET)
    c[V.MODE].change(bind(cb.on_step, c, step_outs), step_in, step_outs, **QUIET)
    c[V.FOCUS].submit(bind(cb.on_focus, c, focus_outs), step_in, focus_outs, **QUIET)
    c[V.CLEAR_FOCUS].click(lambda: "", None, c[V.FOCUS], **QUIET).then(
        bind(cb.on_focus, c, focus_outs), step_in, focus_outs, **QUIET
    )

    def jump_divergence(v, focus, mode):
        return cb.jump(v, None, focus, mode)

    c[V.JUMP].click(bind(jump_divergence, c, jump_outs), [view, c[V.FOCUS], c[V.MODE]], jump_outs, **QUIET)
    c[V.JUMP_GO].click(  # clicked by assets/explorer.js after it wrote the step into jump_to
        bind(cb.jump, c, jump_outs), [view, c[V.JUMP_TO], c[V.FOCUS], c[V.MODE]], jump_outs, **QUIET
    )
    walk_outs = outs(c, (*WALK, V.STATUS))
    for button, delta in ((V.NEXT, 1), (V.BACK, -1)):

        def turn(v, page, delta=delta):
            return cb.turn(v, page, delta)

        turn = named(bind(turn, c, walk_outs), f"turn_{button}")
        c[button].click(turn, [view, c[V.WALK_PAGE]], walk_outs, **QUIET)


def _wire_files(cb: Callbacks, c: Components) -> None:
    """Recorded traces and uploaded trace files (views only: the run panel stays the visitor's)."""
    views_out = outs(c, (o for o in VIEW_OUTPUTS if o not in (V.RECORDED, V.EXAMPLE)))
    c[V.RECORDED].input(
        bind(cb.load_recorded, c, views_out), [c[V.RECORDED], c[V.FOCUS], c[V.MODE]], views_out, **QUIET
    )
    c[V.UPLOAD].upload(
        bind(cb.load_upload, c, views_out), [c[V.UPLOAD], c[V.FOCUS], c[V.MODE]], views_out, **QUIET
    )


def _wire_api(app: App, c: Components) -> None:
    """`/run` (scripted comparisons) and `/inspect_trace` (what a trace file holds)."""

    @functools.wraps(app.run_api)  # its signature and docstring are the endpoint's (gr.api reads them)
    def run(*args, **kwargs) -> dict:
        try:
            return app.run_api(*args, **kwargs)
        except (ValueError, Busy) as e:
            raise gr.Error(message(e), print_exception=False) from None
        except Exception as e:
            log.exception("/run failed")
            raise gr.Error(f"the run failed: {type(e).__name__}") from None

    def inspect(trace_file) -> dict:
        try:
            return inspect_trace(trace_file, app.limits.budget())
        except (ValueError, OSError) as e:
            raise gr.Error(message(f"could not load the trace: {e}"), print_exception=False) from None

    gr.api(run, api_name="run", concurrency_limit=None, concurrency_id="runs")
    c[V.API_TRACE_FILE].change(
        inspect, c[V.API_TRACE_FILE], c[V.API_TRACE_INFO], api_name="inspect_trace", show_progress="hidden"
    )
