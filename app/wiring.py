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
    INPUTS,
    RUN_FIELDS,
    RUN_INPUTS,
    RUN_WIDE,
    SCREEN,
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


def wire(app: App, cb: Callbacks, c: Components, demo: gr.Blocks | None = None) -> None:
    """Every event of the page (call inside the gr.Blocks `demo` that holds `c`)."""
    screen = _screen_check(cb, c)
    fills = _wire_files(cb, c, screen)
    _wire_run(cb, c, screen, fills)
    _wire_views(cb, c)
    _wire_links(cb, c, screen, demo)
    _wire_api(app, c)


def unique(components: list) -> list:
    """Components in order, each once (an event lists an output once)."""
    seen, out = set(), []
    for comp in components:
        if id(comp) not in seen:
            seen.add(id(comp))
            out.append(comp)
    return out


def _screen_check(cb: Callbacks, c: Components):
    """`then(event)`: after an event that changed the inputs or the results, the screen says whose
    results it shows (Callbacks.screen), read from the page as it is then."""
    ins = [c[V.PROMPT], c[V.VIEW], c[V.TABLE_PROMPT]]
    out = outs(c, SCREEN)
    check = named(bind(cb.screen, c, out), "screen_check")

    def then(event):
        return event.then(check, ins, out, **QUIET)

    return then


def _wire_run(cb: Callbacks, c: Components, screen, fills: list) -> None:
    """Examples and presets fill the run panel (visitor's choices only; an example shows its recorded
    run); an edited prompt marks results of another prompt; the buttons run jobs."""

    def on_preset(preset):
        if preset not in PRESETS:
            return gr.skip(), gr.skip()
        fields = cb.preset_fields(preset)
        return fields[V.SCHEDULE], fields[V.PRESET_NOTE]

    picked_out = unique(outs(c, (*INPUTS, *VIEW_OUTPUTS)))
    picked = c[V.EXAMPLE].input(
        bind(cb.on_example, c, picked_out), [c[V.EXAMPLE], c[V.FOCUS], c[V.MODE]], picked_out, **QUIET
    )
    screen(picked)
    edited_out = unique([c[V.EXAMPLE], c[V.EXPECTED], *outs(c, SCREEN)])  # an example's answer goes too
    edited = bind(cb.on_prompt_edit, c, edited_out)
    edited_in = [c[V.PROMPT], c[V.EXAMPLE], c[V.VIEW], c[V.TABLE_PROMPT]]
    for trigger in (c[V.PROMPT].input, c[V.PROMPT].blur):  # blur: a paste made before the events were wired
        trigger(edited, edited_in, edited_out, trigger_mode="always_last", **QUIET)
    c[V.PRESET].input(on_preset, c[V.PRESET], [c[V.SCHEDULE], c[V.PRESET_NOTE]], **QUIET)
    ins = outs(c, RUN_INPUTS)
    views_out = unique(outs(c, (*VIEW_OUTPUTS, *INPUTS)))
    table_out = unique(outs(c, (*TABLE_OUTPUTS, *INPUTS)))
    for button, kind, out in (
        (V.RUN, "run", views_out),
        (V.COMPARE, "strategies", table_out),
        (V.SWEEP, "sweep", table_out),
    ):
        # a Run pressed while an example or a trace is still being loaded: that load is dropped (the
        # Run fills the panel with what it runs), so what lands on screen is the Run's
        job = named(bind(cb.runner(kind), c, out), f"run_{kind}")
        screen(c[button].click(job, ins, out, cancels=[picked, *fills], **RUNS))
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


def _wire_files(cb: Callbacks, c: Components, screen) -> list:
    """Recorded traces and uploaded trace files: their views, and the inputs that made them in the run
    panel. Returns the two events (a Run cancels them)."""
    out = unique(outs(c, (*VIEW_OUTPUTS, *INPUTS)))
    recorded = c[V.RECORDED].input(
        bind(cb.load_recorded, c, out), [c[V.RECORDED], c[V.FOCUS], c[V.MODE]], out, **QUIET
    )
    upload = c[V.UPLOAD].upload(
        bind(cb.load_upload, c, out), [c[V.UPLOAD], c[V.FOCUS], c[V.MODE]], out, **QUIET
    )
    for event in (recorded, upload):
        screen(event)
    return [recorded, upload]


def _wire_links(cb: Callbacks, c: Components, screen, demo: gr.Blocks | None) -> None:
    """The link button (app/links.py): the server writes the query, the page makes it absolute and
    copies it. A page opened from a link gets the link's inputs (and run) on load."""
    fields = (*RUN_FIELDS, V.EXAMPLE, V.VIEW)
    ins = outs(c, fields)  # Callbacks.share's arguments
    made = c[V.LINK_BUTTON].click(
        bind(cb.share, c, [c[V.LINK], c[V.STATUS]]), ins, [c[V.LINK], c[V.STATUS]], **QUIET
    )
    made.then(None, c[V.LINK], c[V.LINK], js=COPY_LINK, **QUIET)
    if demo is not None:
        out = unique(outs(c, (*VIEW_OUTPUTS, *INPUTS)))
        opened = demo.load(bind(cb.open_link, c, out), [c[V.FOCUS], c[V.MODE]], out, **QUIET)
        screen(opened)


# the link box holds "?..." from the server: the page's own address with that query, copied if it can be
COPY_LINK = """(q) => {
  if (!q || !q.startsWith("?")) return q;
  const url = new URL(q, window.location.href).href;
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url).catch(() => {});
  return url;
}"""


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
