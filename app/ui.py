"""The layout: `build_demo() -> gr.Blocks` lays out the explorer, then wires the events.

Every component starts with its final value at build time (the first recorded example's views), so no
start-up event ever writes to the page: what a visitor types the instant the page shows stays theirs.
Callbacks (app/callbacks.py) return {view name: value}; `bind` maps names to components and raises on
an unknown name.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os

import gradio as gr
from starlette.middleware import Middleware

from app import views
from app.callbacks import CUSTOM, Callbacks
from app.figures import EVIDENCE_COLUMNS, empty_figure
from app.inputs import preset_rows
from app.markup import DEFINITIONS, message, status_html
from app.serving import EMBEDDED, BodyLimit, Busy
from app.session import ASSETS, App
from app.tracefiles import inspect_trace
from lazyllm.config import PRESET_NOTES, PRESETS, STRATEGIES

log = logging.getLogger("lazyllm.app")

TITLE = "LazyLLM Explorer"
INTRO = """# LazyLLM Explorer
**LazyLLM** (Fu et al., 2024, [arXiv 2407.14057](https://arxiv.org/abs/2407.14057)) speeds up the
*prefill* of long prompts by computing, at every layer and every step, only the tokens that matter for
the next token, and by letting later steps bring back tokens that earlier steps skipped (the *Aux
Cache*). Pick an example or paste a prompt and press **Run**: LazyLLM and the unpruned baseline run on
the same prompt, and every view below shows what LazyLLM did and what it changed. New here? Open the
**Walkthrough** tab."""
STRATEGY_NOTE = (
    "**lazy**: the paper's method, re-chosen at every step. **static**: the paper's baseline that prunes "
    "once at prefill, ranked by the first pruning layer's attention, and never brings a token back. "
    "**random**: the same number of tokens dropped at random (seeded)."
)
JS = (ASSETS / "explorer.js").read_text(encoding="utf-8") if (ASSETS / "explorer.js").exists() else None


class ExplorerBlocks(gr.Blocks):
    """gr.Blocks whose own input preprocessing answers a crafted value (a string for a slider, too few
    inputs) with a message that names it, not Gradio's anonymous `error: null`."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as e:
            first = (str(e).splitlines() or [type(e).__name__])[0]
            raise gr.Error(message(f"bad request: {first}", 200), print_exception=False) from None


def launch_kwargs() -> dict:
    """Theme, CSS, JS and the memory bounds (Gradio 6 takes them in launch())."""
    return dict(
        theme=gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        css_paths=[str(ASSETS / "style.css")],
        js=JS,
        max_file_size="30mb",
        state_session_capacity=int(os.environ.get("LAZYLLM_SESSIONS", "64")),
        app_kwargs={"middleware": [Middleware(BodyLimit)]},  # requests over 512 KB (but uploads): 413
    )


# Gradio's queue looks for new events every 1 ms, and for progress updates every 10 ms, while it is free
# (its Linux intervals): an idle server spends ~9% of a core on it, and during a run those wake-ups take
# the GIL from the model's thread. Gradio's Windows intervals instead: an event starts at most 50 ms later.
QUEUE_POLL_S, PROGRESS_POLL_S = 0.05, 0.1


def enable_queue(demo: gr.Blocks) -> gr.Blocks:
    """Gradio's queue, polling every QUEUE_POLL_S / PROGRESS_POLL_S. Runs pass the app's own gate
    (LAZYLLM_CONCURRENCY, LAZYLLM_MAX_QUEUE: "busy" beyond it); this queue bounds everything else (view
    updates, file loads): LAZYLLM_GRADIO_QUEUE events waiting (default 64), 4 at once per event."""
    demo.queue(max_size=int(os.environ.get("LAZYLLM_GRADIO_QUEUE", "64")), default_concurrency_limit=4)
    demo._queue.sleep_when_free, demo._queue.progress_update_sleep_when_free = QUEUE_POLL_S, PROGRESS_POLL_S
    return demo


def build_demo(app: App | None = None) -> gr.Blocks:
    """The whole explorer. `app` holds limits, the model hub and the run gate (default: from env)."""
    app = app or App()
    cb = Callbacks(app)
    first = app.default_view()
    start = views.render_all(first, 0, "", "importance") if first else {}
    c: dict[str, gr.components.Component] = {}
    with ExplorerBlocks(title=TITLE, delete_cache=(600, 3600)) as demo:
        c["view"] = gr.State(None, time_to_live=3600)  # None: the recorded example shown at start
        c["walk_page"] = gr.State(0)
        gr.Markdown(INTRO, elem_id="lz-intro")
        with gr.Row(equal_height=False, elem_id="lz-top"):
            with gr.Column(scale=2, min_width=300, elem_id="lz-run-panel"):
                _run_panel(app, c, start)
            with gr.Column(scale=3, min_width=300, elem_id="lz-results"):
                _results_panel(c, start)
        _focus_bar(c, start)
        with gr.Tabs(elem_id="lz-tabs"):
            with gr.Tab("Token survival", id="survival"):
                _survival_tab(c, start)
            with gr.Tab("Importance", id="importance"):
                _importance_tab(c, start)
            with gr.Tab("Layer scan", id="scan"):
                _scan_tab(c, start)
            with gr.Tab("Evidence", id="evidence"):
                _evidence_tab(c, start)
            with gr.Tab("Aux Cache", id="aux"):
                _aux_tab(c, start)
            with gr.Tab("Strategies", id="strategies"):
                _strategies_tab(c)
            with gr.Tab("Walkthrough", id="walk"):
                _walk_tab(c, start)
            with gr.Tab("Trace files", id="files"):
                _files_tab(app, c)
        _wire(app, cb, c)
    return demo


def _plot(c: dict, start: dict, key: str, title: str, elem_id: str) -> None:
    """A plot view, drawn at build time from the recorded example (an empty frame without one)."""
    c[key] = gr.Plot(_value(start, key, empty_figure(title)), show_label=False, elem_id=elem_id)


def _value(start: dict, key: str, default=None):
    """A build-time value: the recorded example's view (gr.update dicts are read by the caller)."""
    v = start.get(key, default)
    return default if isinstance(v, dict) and v.get("__type__") == "update" else v


def _update(start: dict, key: str, prop: str, default):
    v = start.get(key)
    return v.get(prop, default) if isinstance(v, dict) else default


# --- layout --------------------------------------------------------------------------------------


def _run_panel(app: App, c: dict, start: dict) -> None:
    names = list(app.examples)
    first = app.start_name if app.start_name in app.examples else (names[0] if names else None)
    ex = app.examples.get(first)
    c["example"] = gr.Dropdown(
        [*names, CUSTOM], value=first or CUSTOM, label="Example prompt", elem_id="lz-example"
    )
    c["prompt"] = gr.Textbox(
        ex.prompt if ex else "", label="Prompt", lines=7, max_lines=12, elem_id="lz-prompt"
    )
    c["expected"] = gr.Textbox(
        ex.answer if ex else "", label="Expected answer (optional): the verdict then says right or wrong",
        max_lines=1, elem_id="lz-expected",
    )  # fmt: skip
    c["model"] = gr.Dropdown(app.limits.model_choices(), value=EMBEDDED, label="Model", elem_id="lz-model")
    with gr.Row():
        c["preset"] = gr.Dropdown(
            list(PRESETS), value="default", label="Preset", scale=2, elem_id="lz-preset"
        )
        c["strategy"] = gr.Radio(
            list(STRATEGIES), value="lazy", label="Strategy", scale=3, elem_id="lz-strategy"
        )
    c["preset_note"] = gr.Markdown(PRESET_NOTES["default"], elem_classes="lz-small")
    gr.Markdown(STRATEGY_NOTE, elem_classes="lz-small")
    c["schedule"] = gr.Dataframe(
        preset_rows("default"), headers=["prune after layer", "keep fraction"], datatype=["number", "number"],
        type="array", column_count=2, elem_id="lz-schedule",
        label="Schedule: after layer l keep the top k fraction of the tokens entering layer l",
    )  # fmt: skip
    limit = app.limits.max_new_tokens
    c["max_new"] = gr.Slider(
        1, limit, value=min(24, limit), step=1, label="Max new tokens", elem_id="lz-max-new"
    )
    with gr.Row(elem_id="lz-buttons"):
        c["run"] = gr.Button("Run LazyLLM and the baseline", variant="primary", elem_id="lz-run")
        c["stop"] = gr.Button("Stop", variant="stop", elem_id="lz-stop", scale=0, min_width=90)
    c["status"] = gr.HTML(status_html("Ready: a recorded example is on screen. The model loads on the first run."),
                          elem_id="lz-status")  # fmt: skip


def _results_panel(c: dict, start: dict) -> None:
    c["verdict"] = gr.HTML(_value(start, "verdict", ""), elem_id="lz-verdict")
    c["source"] = gr.HTML(_value(start, "source", ""), elem_id="lz-source")
    with gr.Row(elem_classes="lz-stack"):
        c["base_text"] = gr.HTML(_value(start, "base_text", ""), elem_id="lz-base-text")
        c["lazy_text"] = gr.HTML(_value(start, "lazy_text", ""), elem_id="lz-lazy-text")
    c["metrics"] = gr.HTML(_value(start, "metrics", ""), elem_id="lz-metrics")
    c["jump"] = gr.Button(
        _update(start, "jump", "value", "Go to the divergence"), interactive=_update(start, "jump", "interactive", False),
        size="sm", elem_id="lz-jump",
    )  # fmt: skip
    with gr.Row(elem_classes="lz-stack"):
        _plot(c, start, "timing_plot", "Time per step", "lz-speed-plot")
        _plot(c, start, "fidelity_plot", "Fidelity", "lz-fidelity-plot")
    gr.Markdown(f"*Teacher-forced*: {DEFINITIONS['forced']}. *Free-running agreement*: {DEFINITIONS['agreement']}.",
                elem_classes="lz-small")  # fmt: skip
    c["jump_to"] = gr.Textbox(
        "", elem_id="lz-jump-to", elem_classes="lz-hidden", show_label=False, container=False
    )
    c["jump_go"] = gr.Button("open the clicked step", elem_id="lz-jump-go", elem_classes="lz-hidden")


def _focus_bar(c: dict, start: dict) -> None:
    steps = _update(start, "step", "maximum", 1)
    with gr.Row(elem_id="lz-focus-bar", equal_height=True):
        c["step"] = gr.Slider(
            0, steps, value=0, step=1, label="Step (0 = prefill)", scale=3, elem_id="lz-step"
        )
        c["focus"] = gr.Textbox(
            label="Focus span: text to find in the prompt, or positions like 120-135 (empty: chosen for you)",
            scale=3, elem_id="lz-focus", max_lines=1,
        )  # fmt: skip
        c["clear_focus"] = gr.Button("Clear", scale=0, size="sm", min_width=70)


def _survival_tab(c: dict, start: dict) -> None:
    gr.Markdown(
        "Each cell is one (layer, token) at the chosen step; reading up a column: how far a token got. At "
        "decode steps most tokens reuse their KV from earlier steps; orange cells were **revived** from the "
        "Aux Cache. *Pruned after layer l* = not computed from layer l+1 on. Hover a cell for the token.",
        elem_classes="lz-small",
    )
    _plot(c, start, "survival", "Token survival", "lz-survival-plot")
    _plot(c, start, "per_layer", "Tokens per layer", "lz-per-layer-plot")


def _importance_tab(c: dict, start: dict) -> None:
    gr.Markdown(
        "Importance = attention from the step's last token, averaged over heads (§3.2). The first token "
        "usually takes most of it: an **attention sink**, where models park attention no other token needs.",
        elem_classes="lz-small",
    )
    _plot(c, start, "importance", "Importance", "lz-importance-plot")
    with gr.Row(elem_classes="lz-stack"):
        with gr.Column(scale=2, min_width=280):
            c["mode"] = gr.Radio(["importance", "depth"], value="importance", label="Shade the prompt by",
                                 elem_id="lz-mode")  # fmt: skip
            c["prompt_html"] = gr.HTML(_value(start, "prompt_html", ""), elem_id="lz-prompt-html")
        with gr.Column(scale=1, min_width=280):
            c["top_table"] = gr.Dataframe(
                _value(start, "top_table", []), headers=["layer", "rank", "position", "token", "score"],
                label="Top tokens per pruning layer", interactive=False, elem_id="lz-top-table",
            )  # fmt: skip


def _scan_tab(c: dict, start: dict) -> None:
    gr.Markdown(
        "One prefill without pruning scores every layer: where does the focus span rank in the last token's "
        "attention, layer by layer? Pruning before the span is safely inside the keep fraction can lose it.",
        elem_classes="lz-small",
    )
    c["scan_md"] = gr.Markdown(_value(start, "scan_md", ""), elem_id="lz-scan-md")
    _plot(c, start, "scan_plot", "Layer scan", "lz-scan-plot")


def _evidence_tab(c: dict, start: dict) -> None:
    c["evidence_md"] = gr.Markdown(_value(start, "evidence_md", ""), elem_id="lz-evidence-md")
    c["evidence_table"] = gr.Dataframe(
        _value(start, "evidence_table", []), headers=EVIDENCE_COLUMNS, interactive=False, wrap=True,
        label="The span token by token (at the chosen step)", elem_id="lz-evidence-table",
    )  # fmt: skip
    _plot(c, start, "evidence_plot", "Evidence", "lz-evidence-plot")


def _aux_tab(c: dict, start: dict) -> None:
    gr.Markdown(
        "A token pruned after layer *l* leaves its hidden state in the Aux Cache **of layer l**; a later step "
        "that needs it again revives it **at layer l+1** (so cache rows and revival rows are one layer apart).",
        elem_classes="lz-small",
    )
    with gr.Row(elem_classes="lz-stack"):
        _plot(c, start, "revivals", "Revivals", "lz-revivals-plot")
        _plot(c, start, "cumulative", "Computations", "lz-cumulative-plot")
    with gr.Row(elem_classes="lz-stack"):
        _plot(c, start, "cache_sizes", "Cache sizes", "lz-cache-plot")
        c["revived_table"] = gr.Dataframe(
            _value(start, "revived_table", []), headers=["step", "layer", "position", "token"],
            label="Revived tokens", interactive=False, max_height=320, elem_id="lz-revived-table",
        )  # fmt: skip


def _strategies_tab(c: dict) -> None:
    gr.Markdown(
        "The paper's Table 1 on your prompt: **lazy**, **static** and **random** at the same schedule (the same "
        "budget), or LazyLLM at several keep fractions. One baseline serves every row (cached while only the "
        "schedule or the strategy changes). KL is teacher-forced (the pruned model fed the baseline's tokens).",
        elem_classes="lz-small",
    )
    with gr.Row(elem_id="lz-table-buttons"):
        c["compare"] = gr.Button("Compare strategies", elem_id="lz-compare")
        c["sweep"] = gr.Button("Sweep keep fractions", elem_id="lz-sweep")
    c["table"] = gr.Dataframe(
        headers=["run", "answer", "mean KL (nats)", "top-1", "TTFT", "compute", "config"], interactive=False,
        wrap=True, elem_id="lz-table",
    )  # fmt: skip
    c["table_plot"] = gr.Plot(empty_figure("Strategies", "Press Compare strategies or Sweep."), show_label=False,
                              elem_id="lz-table-plot")  # fmt: skip


def _walk_tab(c: dict, start: dict) -> None:
    with gr.Row(elem_id="lz-walk-bar"):
        c["back"] = gr.Button("◀ Back", size="sm", scale=0, min_width=90, elem_id="lz-back",
                              interactive=_update(start, "back", "interactive", False))  # fmt: skip
        c["walk_nav"] = gr.Markdown(_value(start, "walk_nav", "Page 1"), elem_id="lz-walk-nav")
        c["next"] = gr.Button("Next ▶", size="sm", scale=0, min_width=90, elem_id="lz-next",
                              interactive=_update(start, "next", "interactive", True))  # fmt: skip
    with gr.Row(elem_classes="lz-stack"):
        with gr.Column(scale=2, min_width=280):
            c["walk_md"] = gr.Markdown(_value(start, "walk_md", "Run a prompt first."), elem_id="lz-walk-md")
        with gr.Column(scale=3, min_width=280):
            _plot(c, start, "walk_plot", "Walkthrough", "lz-walk-plot")


def _files_tab(app: App, c: dict) -> None:
    gr.Markdown(
        "Explore a trace without running a model: pick a recorded example or upload a trace JSON (exported "
        "here, or `res.trace.to_json()` from the `lazyllm` API). Download saves the run on screen.",
        elem_classes="lz-small",
    )
    with gr.Row(elem_classes="lz-stack"):
        rec = list(app.recorded)
        c["recorded"] = gr.Dropdown(rec, value=app.start_name, label="Recorded example traces",
                                    elem_id="lz-recorded")  # fmt: skip
        c["upload"] = gr.File(
            label="Load a trace JSON", file_types=[".json"], type="filepath", elem_id="lz-upload"
        )
        c["download"] = gr.DownloadButton("Download this trace (JSON)", value=None, elem_id="lz-download")
    with gr.Row(visible=False):  # the /inspect_trace API endpoint's input and output
        c["api_trace_file"] = gr.File(label="trace_file", type="filepath")
        c["api_trace_info"] = gr.JSON(label="trace_info")


# --- events --------------------------------------------------------------------------------------


def bind(fn, c: dict, outputs: list):
    """Wrap a callback returning/yielding {name: value} so it returns {component: value} for `outputs`.

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


SUMMARY = ("verdict", "source", "metrics", "timing_plot", "fidelity_plot", "base_text", "lazy_text", "jump")
STEP = ("survival", "per_layer", "importance", "top_table", "prompt_html", "evidence_table", "evidence_md")
RUN_WIDE = ("evidence_plot", "scan_plot", "scan_md", "revivals", "revived_table", "cache_sizes", "cumulative")
WALK = ("walk_md", "walk_plot", "walk_nav", "walk_page", "back", "next")
VIEW_OUTPUTS = (
    "view",
    "step",
    "status",
    "download",
    "recorded",
    "example",
    "expected",
    *SUMMARY,
    *STEP,
    *RUN_WIDE,
    *WALK,
)
TABLE_OUTPUTS = ("table", "table_plot", "status", "example", "expected")
RUN_INPUTS = (
    "prompt",
    "model",
    "preset",
    "schedule",
    "strategy",
    "max_new",
    "expected",
    "example",
    "focus",
    "mode",
)
QUIET = dict(api_visibility="private", show_progress="hidden")


def _wire(app: App, cb: Callbacks, c: dict) -> None:
    _wire_run(app, cb, c)
    _wire_views(cb, c)
    _wire_files(cb, c)
    _wire_api(app, c)


def _outs(c: dict, names) -> list:
    return [c[k] for k in names]


def _wire_run(app: App, cb: Callbacks, c: dict) -> None:
    """Examples and presets fill the run panel (visitor's choices only); the buttons run jobs."""

    def on_preset(preset):
        if preset not in PRESETS:
            return gr.skip(), gr.skip()
        fields = cb.preset_fields(preset)
        return fields["schedule"], fields["preset_note"]

    panel = _outs(c, ("prompt", "expected", "preset", "schedule", "preset_note"))
    c["example"].input(bind(cb.on_example, c, panel), c["example"], panel, **QUIET)
    edited_out = [c["example"], c["expected"]]
    edited = dict(fn=bind(cb.on_prompt_edit, c, edited_out), inputs=[c["prompt"], c["example"]],
                  outputs=edited_out, **QUIET)  # fmt: skip
    c["prompt"].input(**edited)
    c["prompt"].blur(**edited)  # also a paste made before the page had wired its events
    c["preset"].input(on_preset, c["preset"], [c["schedule"], c["preset_note"]], **QUIET)
    ins = _outs(c, RUN_INPUTS)
    runs = dict(
        concurrency_limit=None, concurrency_id="runs", show_progress="hidden", api_visibility="private"
    )
    views_out, table_out = _outs(c, VIEW_OUTPUTS), _outs(c, TABLE_OUTPUTS)
    c["run"].click(bind(cb.runner("run"), c, views_out), ins, views_out, **runs)
    c["compare"].click(bind(cb.runner("strategies"), c, table_out), ins, table_out, **runs)
    c["sweep"].click(bind(cb.runner("sweep"), c, table_out), ins, table_out, **runs)
    c["stop"].click(bind(cb.stop, c, [c["status"]]), None, c["status"], **QUIET)


def _wire_views(cb: Callbacks, c: dict) -> None:
    """The step slider, the focus span, the jump and the walkthrough redraw only what they change."""
    view = c["view"]
    step_in = [view, c["step"], c["focus"], c["mode"]]
    step_outs = _outs(c, (*STEP, "status"))
    focus_outs = _outs(c, (*STEP, *RUN_WIDE, "status"))
    jump_outs = _outs(c, ("step", *STEP, "status"))
    c["step"].release(bind(cb.on_step, c, step_outs), step_in, step_outs, **QUIET)
    c["mode"].change(bind(cb.on_step, c, step_outs), step_in, step_outs, **QUIET)
    c["focus"].submit(bind(cb.on_focus, c, focus_outs), step_in, focus_outs, **QUIET)
    c["clear_focus"].click(lambda: "", None, c["focus"], **QUIET).then(
        bind(cb.on_focus, c, focus_outs), step_in, focus_outs, **QUIET
    )

    def jump_divergence(v, focus, mode):
        return cb.jump(v, None, focus, mode)

    jump_divergence.__name__ = "jump_divergence"
    c["jump"].click(bind(jump_divergence, c, jump_outs), [view, c["focus"], c["mode"]], jump_outs, **QUIET)
    c["jump_go"].click(  # clicked by assets/explorer.js after it wrote the step into jump_to
        bind(cb.jump, c, jump_outs), [view, c["jump_to"], c["focus"], c["mode"]], jump_outs, **QUIET
    )
    walk_outs = _outs(c, (*WALK, "status"))
    for button, delta in (("next", 1), ("back", -1)):

        def turn(v, page, delta=delta):
            return cb.turn(v, page, delta)

        turn.__name__ = f"turn_{button}"
        c[button].click(bind(turn, c, walk_outs), [view, c["walk_page"]], walk_outs, **QUIET)


def _wire_files(cb: Callbacks, c: dict) -> None:
    """Recorded traces and uploaded trace files (views only: the run panel stays the visitor's)."""
    outs = _outs(c, (o for o in VIEW_OUTPUTS if o not in ("recorded", "example")))
    c["recorded"].input(
        bind(cb.load_recorded, c, outs), [c["recorded"], c["focus"], c["mode"]], outs, **QUIET
    )
    c["upload"].upload(bind(cb.load_upload, c, outs), [c["upload"], c["focus"], c["mode"]], outs, **QUIET)


def _wire_api(app: App, c: dict) -> None:
    """`/run` (scripted comparisons) and `/inspect_trace` (what a trace file holds)."""

    def run(prompt: str, preset: str = "default", schedule: str = "", strategy: str = "lazy",
            max_new_tokens: int = 32, expected: str = "") -> dict:  # fmt: skip
        """Run the baseline and LazyLLM on `prompt`: comparison, teacher-forced KL and top-1, verdict, config.

        preset: baseline | paper | default | fast | question. schedule: "layer:keep, ..."
        (empty = the preset's). strategy: lazy | static | random. expected: the answer, if known.
        """
        try:
            return app.run_api(prompt, preset, schedule, strategy, max_new_tokens, expected)
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
    c["api_trace_file"].change(
        inspect, c["api_trace_file"], c["api_trace_info"], api_name="inspect_trace", show_progress="hidden"
    )
