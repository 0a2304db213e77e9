"""The explorer's layout: every component, registered under its View name (no events here).

Every component starts with its final value at build time (the first recorded example's views, `start`),
so no start-up event writes to the page: what a visitor types the instant the page shows stays
theirs. (A page opened from a link to a run gets the link's inputs on load: app/links.py.)
"""

from __future__ import annotations

import inspect

import gradio as gr

from app import texts
from app.callbacks import CUSTOM
from app.figures import empty_figure
from app.inputs import preset_rows
from app.markup import DEFINITIONS, status_html
from app.serving import EMBEDDED
from app.session import App
from app.tables import EVIDENCE_COLUMNS
from app.viewnames import View as V
from lazyllm.config import PRESET_NOTES, PRESETS, STRATEGIES

Components = dict[V, gr.components.Component]
# The strategies / sweep table's columns: one per value of views.table_row
TABLE_COLUMNS = ["run", "answer", "mean KL (nats)", "top-1", "TTFT", "compute", "config", "text"]
TABLE_NOTE = (
    "The table and the chart fill in as each run ends. *compute*: the (prompt token, layer) computations "
    "of the whole generation against the baseline's. `random` keeps as many tokens as `lazy` at every "
    "step, but draws them afresh, so its decode steps revive many from the Aux Cache: over the steps "
    "nearly every token gets computed once at every layer, the closer to 100% the more steps (with one "
    "new token, the prefill only, the two are equal). *text*: what the run generated (hover a point of "
    "the chart for it too)."
)
# Tabs that do not fit one row wrap onto the next (Gradio's default hides them in a "⋯" menu, where a
# visitor on a phone does not see them); a Gradio without the option keeps its menu.
TABS = {"overflow_behavior": "wrap"} if "overflow_behavior" in inspect.signature(gr.Tabs).parameters else {}
SMALL = "lz-small"  # the class of the notes above each tab
STACK = "lz-stack"  # a row that stacks on narrow screens


def lay_out(app: App, start: dict) -> Components:
    """Every component of the page, in order (call inside a gr.Blocks)."""
    c: Components = {}
    c[V.VIEW] = gr.State(None, time_to_live=3600)  # None: the recorded example shown at start
    c[V.WALK_PAGE] = gr.State(0)
    c[V.TABLE_PROMPT] = gr.State(None)  # the prompt the Strategies table was run on (app/links.py)
    gr.Markdown(texts.INTRO, elem_id="lz-intro")
    with gr.Row(equal_height=False, elem_id="lz-top"):
        with gr.Column(scale=2, min_width=300, elem_id="lz-run-panel"):
            _run_panel(app, c)
        with gr.Column(scale=3, min_width=300, elem_id="lz-results"):
            _results_panel(c, start)
    _focus_bar(c, start)
    tabs = (
        ("Token survival", "survival", lambda: _survival_tab(c, start)),
        ("Importance", "importance", lambda: _importance_tab(c, start)),
        ("Layer scan", "scan", lambda: _scan_tab(c, start)),
        ("Evidence", "evidence", lambda: _evidence_tab(c, start)),
        ("Aux Cache", "aux", lambda: _aux_tab(c, start)),
        ("Strategies", "strategies", lambda: _strategies_tab(c)),
        ("Walkthrough", "walk", lambda: _walk_tab(c, start)),
        ("Trace files", "files", lambda: _files_tab(app, c)),
    )
    with gr.Tabs(elem_id="lz-tabs", **TABS):
        for label, tab_id, fill in tabs:
            with gr.Tab(label, id=tab_id):
                fill()
    return c


def _plot(c: Components, start: dict, key: V, title: str, elem_id: str) -> None:
    """A plot view, drawn at build time from the recorded example (an empty frame without one)."""
    c[key] = gr.Plot(_value(start, key, empty_figure(title)), show_label=False, elem_id=elem_id)


def _value(start: dict, key: V, default=None):
    """A build-time value: the recorded example's view (gr.update dicts are read by the caller)."""
    v = start.get(key, default)
    return default if isinstance(v, dict) and v.get("__type__") == "update" else v


def _update(start: dict, key: V, prop: str, default):
    v = start.get(key)
    return v.get(prop, default) if isinstance(v, dict) else default


def _note(text: str) -> None:
    gr.Markdown(text, elem_classes=SMALL)


# --- the top of the page -------------------------------------------------------------------------


def _run_panel(app: App, c: Components) -> None:
    """The prompt, then Run, the status and a link to the inputs (Run within the first screen, on a phone
    too), then the rest of the inputs: the expected answer, the model, the preset, strategy and schedule,
    the token count."""
    ex = _prompt_inputs(app, c)
    with gr.Row(elem_id="lz-buttons"):
        c[V.RUN] = gr.Button("Run LazyLLM and the baseline", variant="primary", elem_id="lz-run")
        c[V.STOP] = gr.Button("Stop", variant="stop", elem_id="lz-stop", scale=0, min_width=90)
    c[V.STATUS] = gr.HTML(status_html(texts.READY), elem_id="lz-status")
    _link_row(c)
    _answer_and_model(app, c, ex)
    _config_inputs(app, c)


def _link_row(c: Components) -> None:
    """A link to these inputs (app/links.py)."""
    with gr.Row(elem_id="lz-link-row", equal_height=True):  # a link to these inputs (app/links.py)
        c[V.LINK_BUTTON] = gr.Button(
            "Link to these inputs", size="sm", scale=0, min_width=160, elem_id="lz-link-button"
        )
        c[V.LINK] = gr.Textbox(
            "",
            show_label=False,
            container=False,
            placeholder="a link that reopens these inputs",
            max_lines=1,
            buttons=["copy"],
            elem_id="lz-link",
        )


def _prompt_inputs(app: App, c: Components):
    """The example and its prompt; returns the example shown (None without examples)."""
    names = list(app.examples)
    first = app.start_name if app.start_name in app.examples else (names[0] if names else None)
    ex = app.examples.get(first)
    c[V.EXAMPLE] = gr.Dropdown(
        [*names, CUSTOM], value=first or CUSTOM, label="Example prompt", elem_id="lz-example"
    )
    c[V.PROMPT] = gr.Textbox(
        ex.prompt if ex else "", label="Prompt", lines=6, max_lines=12, elem_id="lz-prompt"
    )
    return ex


def _answer_and_model(app: App, c: Components, ex) -> None:
    """The expected answer (of the example shown) and the model."""
    c[V.EXPECTED] = gr.Textbox(
        ex.answer if ex else "",
        label="Expected answer (optional): the verdict then says right or wrong",
        max_lines=1,
        elem_id="lz-expected",
    )
    c[V.MODEL] = gr.Dropdown(app.limits.model_choices(), value=EMBEDDED, label="Model", elem_id="lz-model")


def _config_inputs(app: App, c: Components) -> None:
    """Preset, strategy, schedule and the number of new tokens."""
    with gr.Row():
        c[V.PRESET] = gr.Dropdown(
            list(PRESETS), value="default", label="Preset", scale=2, elem_id="lz-preset"
        )
        c[V.STRATEGY] = gr.Radio(
            list(STRATEGIES), value="lazy", label="Strategy", scale=3, elem_id="lz-strategy"
        )
    c[V.PRESET_NOTE] = gr.Markdown(PRESET_NOTES["default"], elem_classes=SMALL)
    _note(texts.STRATEGY_NOTE)
    c[V.SCHEDULE] = gr.Dataframe(
        preset_rows("default"),
        headers=["prune after layer", "keep fraction"],
        datatype=["number", "number"],
        type="array",
        column_count=2,
        elem_id="lz-schedule",
        label="Schedule: after layer l keep the top k fraction of the tokens entering layer l",
    )
    limits = app.limits
    c[V.MAX_NEW] = gr.Slider(
        1,
        limits.max_new_tokens,
        value=limits.default_new_tokens,
        step=1,
        label="Max new tokens",
        elem_id="lz-max-new",
    )


def _results_panel(c: Components, start: dict) -> None:
    c[V.STALE_NOTE] = gr.HTML("", elem_id="lz-stale")  # results of another prompt: said here (callbacks)
    c[V.VERDICT] = gr.HTML(_value(start, V.VERDICT, ""), elem_id="lz-verdict")
    c[V.SOURCE] = gr.HTML(_value(start, V.SOURCE, ""), elem_id="lz-source")
    with gr.Row(elem_classes=STACK):
        c[V.BASE_TEXT] = gr.HTML(_value(start, V.BASE_TEXT, ""), elem_id="lz-base-text")
        c[V.LAZY_TEXT] = gr.HTML(_value(start, V.LAZY_TEXT, ""), elem_id="lz-lazy-text")
    c[V.METRICS] = gr.HTML(_value(start, V.METRICS, ""), elem_id="lz-metrics")
    c[V.JUMP] = gr.Button(
        _update(start, V.JUMP, "value", "Go to the divergence"),
        interactive=_update(start, V.JUMP, "interactive", False),
        size="sm",
        elem_id="lz-jump",
    )
    with gr.Row(elem_classes=STACK):
        _plot(c, start, V.TIMING_PLOT, "Time per step", "lz-speed-plot")
        _plot(c, start, V.FIDELITY_PLOT, "Fidelity", "lz-fidelity-plot")
    forced, agreement = DEFINITIONS["forced"], DEFINITIONS["agreement"]
    _note(f"*Teacher-forced*: {forced}. *Free-running agreement*: {agreement}.")
    c[V.JUMP_TO] = gr.Textbox(
        "", elem_id="lz-jump-to", elem_classes="lz-hidden", show_label=False, container=False
    )
    c[V.JUMP_GO] = gr.Button("open the clicked step", elem_id="lz-jump-go", elem_classes="lz-hidden")


def _focus_bar(c: Components, start: dict) -> None:
    steps = _update(start, V.STEP, "maximum", 1)
    with gr.Row(elem_id="lz-focus-bar", equal_height=True):
        c[V.STEP] = gr.Slider(
            0, steps, value=0, step=1, label="Step (0 = prefill)", scale=3, elem_id="lz-step"
        )
        c[V.FOCUS] = gr.Textbox(
            label="Focus span: text to find in the prompt, or positions like 120-135 (empty: chosen for you)",
            scale=3,
            elem_id="lz-focus",
            max_lines=1,
        )
        c[V.CLEAR_FOCUS] = gr.Button("Clear", scale=0, size="sm", min_width=70)


# --- the tabs --------------------------------------------------------------------------------------


def _survival_tab(c: Components, start: dict) -> None:
    _note(texts.SURVIVAL_NOTE)
    _plot(c, start, V.SURVIVAL, "Token survival", "lz-survival-plot")
    _plot(c, start, V.PER_LAYER, "Tokens per layer", "lz-per-layer-plot")


def _importance_tab(c: Components, start: dict) -> None:
    _note(texts.IMPORTANCE_NOTE)
    _plot(c, start, V.IMPORTANCE, "Importance", "lz-importance-plot")
    with gr.Row(elem_classes=STACK):
        with gr.Column(scale=2, min_width=280):
            c[V.MODE] = gr.Radio(
                ["importance", "depth"], value="importance", label="Shade the prompt by", elem_id="lz-mode"
            )
            c[V.PROMPT_HTML] = gr.HTML(_value(start, V.PROMPT_HTML, ""), elem_id="lz-prompt-html")
        with gr.Column(scale=1, min_width=280):
            c[V.TOP_TABLE] = gr.Dataframe(
                _value(start, V.TOP_TABLE, []),
                headers=["layer", "rank", "position", "token", "score"],
                label="Top tokens per pruning layer (rank 1 = most attended of the tokens entering it)",
                interactive=False,
                wrap=True,
                elem_id="lz-top-table",
            )


def _scan_tab(c: Components, start: dict) -> None:
    _note(texts.SCAN_NOTE)
    c[V.SCAN_MD] = gr.Markdown(_value(start, V.SCAN_MD, ""), elem_id="lz-scan-md")
    _plot(c, start, V.SCAN_PLOT, "Layer scan", "lz-scan-plot")


def _evidence_tab(c: Components, start: dict) -> None:
    """Two views: the baseline's attention at the split (shown where the texts part), the focus span (shown
    where they agree, or when the visitor types a span: views.evidence_choice)."""
    selected = _update(start, V.EVIDENCE_TABS, "selected", "split")
    with gr.Tabs(selected=selected, elem_id="lz-evidence-tabs") as tabs:
        c[V.EVIDENCE_TABS] = tabs
        with gr.Tab("At the split: what the baseline relied on", id="split"):
            _note(texts.SPLIT_NOTE)
            c[V.SPLIT_HTML] = gr.HTML(_value(start, V.SPLIT_HTML, ""), elem_id="lz-split-html")
            _plot(c, start, V.SPLIT_PLOT, "Baseline's attention at the split", "lz-split-plot")
        with gr.Tab("Focus span across steps", id="span"):
            c[V.EVIDENCE_MD] = gr.Markdown(_value(start, V.EVIDENCE_MD, ""), elem_id="lz-evidence-md")
            c[V.EVIDENCE_TABLE] = gr.Dataframe(
                _value(start, V.EVIDENCE_TABLE, []),
                headers=EVIDENCE_COLUMNS,
                interactive=False,
                wrap=True,
                label="The span token by token (at the chosen step)",
                elem_id="lz-evidence-table",
            )
            _plot(c, start, V.EVIDENCE_PLOT, "Evidence", "lz-evidence-plot")


def _aux_tab(c: Components, start: dict) -> None:
    _note(texts.AUX_NOTE)
    with gr.Row(elem_classes=STACK):
        _plot(c, start, V.REVIVALS, "Revivals", "lz-revivals-plot")
        _plot(c, start, V.CUMULATIVE, "Computations", "lz-cumulative-plot")
    with gr.Row(elem_classes=STACK):
        _plot(c, start, V.CACHE_SIZES, "Cache sizes", "lz-cache-plot")
        c[V.REVIVED_TABLE] = gr.Dataframe(
            _value(start, V.REVIVED_TABLE, []),
            headers=["step", "layer", "position", "token"],
            label="Revived tokens: one row per revival (the step, and the layer it re-entered at)",
            interactive=False,
            max_height=320,
            elem_id="lz-revived-table",
        )


def _strategies_tab(c: Components) -> None:
    _note(texts.STRATEGIES_NOTE)
    with gr.Row(elem_id="lz-table-buttons"):
        c[V.COMPARE] = gr.Button("Compare strategies", elem_id="lz-compare")
        c[V.SWEEP] = gr.Button("Sweep keep fractions", elem_id="lz-sweep")
    c[V.TABLE] = gr.Dataframe(
        headers=TABLE_COLUMNS,
        interactive=False,
        wrap=True,
        elem_id="lz-table",
    )
    _note(TABLE_NOTE)
    c[V.TABLE_PLOT] = gr.Plot(
        empty_figure("Strategies", "Press Compare strategies or Sweep."),
        show_label=False,
        elem_id="lz-table-plot",
    )


def _page_button(label: str, elem_id: str, interactive: bool) -> gr.Button:
    """The walkthrough's Back / Next."""
    return gr.Button(label, size="sm", scale=0, min_width=90, elem_id=elem_id, interactive=interactive)


def _walk_tab(c: Components, start: dict) -> None:
    with gr.Row(elem_id="lz-walk-bar"):
        c[V.BACK] = _page_button("◀ Back", "lz-back", _update(start, V.BACK, "interactive", False))
        c[V.WALK_NAV] = gr.Markdown(_value(start, V.WALK_NAV, "Page 1"), elem_id="lz-walk-nav")
        c[V.NEXT] = _page_button("Next ▶", "lz-next", _update(start, V.NEXT, "interactive", True))
    with gr.Row(elem_classes=STACK):
        with gr.Column(scale=2, min_width=280):
            c[V.WALK_MD] = gr.Markdown(_value(start, V.WALK_MD, "Run a prompt first."), elem_id="lz-walk-md")
        with gr.Column(scale=3, min_width=280):
            _plot(c, start, V.WALK_PLOT, "Walkthrough", "lz-walk-plot")


def _files_tab(app: App, c: Components) -> None:
    _note(texts.FILES_NOTE)
    with gr.Row(elem_classes=STACK):
        c[V.RECORDED] = gr.Dropdown(
            list(app.recorded), value=app.start_name, label="Recorded example traces", elem_id="lz-recorded"
        )
        c[V.UPLOAD] = gr.File(
            label="Load a trace JSON", file_types=[".json"], type="filepath", elem_id="lz-upload"
        )
        c[V.DOWNLOAD] = gr.DownloadButton("Download this trace (JSON)", value=None, elem_id="lz-download")
    with gr.Row(visible=False):  # the /inspect_trace API endpoint's input and output
        c[V.API_TRACE_FILE] = gr.File(label="trace_file", type="filepath")
        c[V.API_TRACE_INFO] = gr.JSON(label="trace_info")
