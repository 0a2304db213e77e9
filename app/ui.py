"""The layout: `build_demo() -> gr.Blocks` lays out the explorer, then wires the events.

Callbacks (app/callbacks.py) return dicts keyed by the view names below; `_bind` maps the names to
components, so a callback can update any subset of the views.
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr

from app import callbacks as cb
from app import walkthrough
from app.figures import STATE_COLORS, STATE_NAMES, empty_figure

TITLE = "LazyLLM Explorer"
FIRST_RECORDED = "Pass-key"  # the recorded trace shown on page load
INTRO = """# LazyLLM Explorer
**LazyLLM** (Fu et al., 2024, [arXiv 2407.14057](https://arxiv.org/abs/2407.14057)) speeds up the
*prefill* of long prompts by computing, at every layer and every step, only the tokens that matter for
the next token, and by letting later steps bring back tokens that earlier steps skipped (the *Aux
Cache*). Pick an example, press **Run**: LazyLLM and the unpruned baseline run on the same prompt, and
every view below shows what LazyLLM did, layer by layer and step by step. New here? Open the
**Walkthrough** tab."""


def _legend_html() -> str:
    items = "".join(
        f'<span class="lz-key"><i style="background:{c}"></i>{n}</span>'
        for n, c in zip(STATE_NAMES, STATE_COLORS, strict=True)
    )
    return f'<div class="lz-legend-row">{items}</div>'


def launch_kwargs() -> dict:
    """Theme and CSS (Gradio 6 takes them in launch())."""
    return dict(
        theme=gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        css_paths=[str(cb.ASSETS / "style.css")],
        max_file_size="30mb",
    )


def build_demo(app: cb.App | None = None) -> gr.Blocks:
    """The whole explorer. `app` holds limits, the model hub and the run gate (default: from env)."""
    app = app or cb.App()
    c: dict[str, gr.components.Component] = {}
    with gr.Blocks(title=TITLE) as demo:
        view = gr.State(None)
        c["view"] = view
        c["walk_page"] = gr.State(0)
        gr.Markdown(INTRO, elem_id="lz-intro")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340, elem_id="lz-run-panel"):
                _run_panel(app, c)
            with gr.Column(scale=3, min_width=420, elem_id="lz-results"):
                _results_panel(c)
        _focus_bar(c)
        with gr.Tabs(elem_id="lz-tabs"):
            with gr.Tab("Token survival", id="survival"):
                _survival_tab(c)
            with gr.Tab("Importance", id="importance"):
                _importance_tab(c)
            with gr.Tab("Evidence", id="evidence"):
                _evidence_tab(c)
            with gr.Tab("Aux Cache", id="aux"):
                _aux_tab(c)
            with gr.Tab("Walkthrough", id="walk"):
                _walk_tab(c)
            with gr.Tab("Trace files", id="files"):
                _files_tab(app, c)
        _wire(demo, app, c)
    return demo


# --- layout --------------------------------------------------------------------------------------


def _run_panel(app: cb.App, c: dict) -> None:
    from lazyllm.config import PRESET_NOTES, PRESETS, STRATEGIES

    names = list(app.examples)
    c["example"] = gr.Dropdown(
        names, value=names[0] if names else None, label="Example prompt", elem_id="lz-example"
    )
    first = app.examples[names[0]]["prompt"] if names else ""
    c["prompt"] = gr.Textbox(first, label="Prompt", lines=7, max_lines=12, elem_id="lz-prompt")
    c["model"] = gr.Dropdown(app.limits.model_choices(), value=cb.EMBEDDED, label="Model", elem_id="lz-model")
    with gr.Row():
        c["preset"] = gr.Dropdown(
            list(PRESETS), value="default", label="Preset", scale=2, elem_id="lz-preset"
        )
        c["strategy"] = gr.Radio(
            list(STRATEGIES), value="lazy", label="Strategy", scale=3, elem_id="lz-strategy"
        )
    c["preset_note"] = gr.Markdown(PRESET_NOTES["default"], elem_classes="lz-small")
    c["schedule"] = gr.Dataframe(
        cb.preset_rows("default"),
        headers=["prune after layer", "keep fraction"],
        datatype=["number", "number"],
        type="array",
        column_count=2,
        label="Schedule (editable): after layer l keep the top k fraction",
        elem_id="lz-schedule",
    )
    c["max_new"] = gr.Slider(
        1,
        app.limits.max_new_tokens,
        value=min(32, app.limits.max_new_tokens),
        step=1,
        label="Max new tokens",
        elem_id="lz-max-new",
    )
    with gr.Row():
        c["run"] = gr.Button("Run LazyLLM and the baseline", variant="primary", elem_id="lz-run")
        c["stop"] = gr.Button("Stop", variant="stop", elem_id="lz-stop", scale=0, min_width=90)
    c["status"] = gr.HTML(
        cb.status_html("Ready. The model loads on the first run.", "info"), elem_id="lz-status"
    )


def _results_panel(c: dict) -> None:
    c["source"] = gr.HTML("", elem_id="lz-source")
    with gr.Row():
        c["base_text"] = gr.HTML("", elem_id="lz-base-text")
        c["lazy_text"] = gr.HTML("", elem_id="lz-lazy-text")
    c["metrics"] = gr.HTML("", elem_id="lz-metrics")
    with gr.Row():
        c["timing_plot"] = gr.Plot(empty_figure("Speed"), show_label=False, elem_id="lz-speed-plot")
        c["fidelity_plot"] = gr.Plot(empty_figure("Fidelity"), show_label=False, elem_id="lz-fidelity-plot")


def _focus_bar(c: dict) -> None:
    with gr.Row(elem_id="lz-focus-bar", equal_height=True):
        c["step"] = gr.Slider(0, 1, value=0, step=1, label="Step (0 = prefill)", scale=3, elem_id="lz-step")
        c["focus"] = gr.Textbox(
            label="Focus span: text to find in the prompt, or positions like 120-135",
            scale=3,
            elem_id="lz-focus",
        )
        c["use_answer"] = gr.Button("Use the example's answer", scale=1, size="sm")
        c["clear_focus"] = gr.Button("Clear", scale=0, size="sm", min_width=70)


def _survival_tab(c: dict) -> None:
    gr.Markdown(
        "Each cell is one (layer, token) at the chosen step. Reading up a column: how far a token got "
        "before it was pruned. At decode steps most tokens reuse their KV from earlier steps; orange cells "
        "were **revived** from the Aux Cache. Hover a cell for the token, its position, layer and score.",
        elem_classes="lz-small",
    )
    gr.HTML(_legend_html())
    c["survival"] = gr.Plot(empty_figure("Token survival"), show_label=False, elem_id="lz-survival-plot")
    c["per_layer"] = gr.Plot(empty_figure("Tokens per layer"), show_label=False, elem_id="lz-per-layer-plot")


def _importance_tab(c: dict) -> None:
    c["importance"] = gr.Plot(empty_figure("Importance"), show_label=False, elem_id="lz-importance-plot")
    with gr.Row():
        with gr.Column(scale=2):
            c["mode"] = gr.Radio(
                ["importance", "depth"], value="importance", label="Shade the prompt by", elem_id="lz-mode"
            )
            c["prompt_html"] = gr.HTML("", elem_id="lz-prompt-html")
        with gr.Column(scale=1):
            c["top_table"] = gr.Dataframe(
                headers=["layer", "rank", "position", "token", "score"],
                label="Top tokens per pruning layer",
                interactive=False,
                elem_id="lz-top-table",
            )


def _evidence_tab(c: dict) -> None:
    gr.Markdown(
        "Choose a span in the focus bar (or the example's marked answer) and follow it: at which steps and "
        "layers the model saw it, where it was pruned, and when it came back.",
        elem_classes="lz-small",
    )
    with gr.Row():
        c["evidence_plot"] = gr.Plot(
            empty_figure("Evidence tracker"), show_label=False, elem_id="lz-evidence-plot"
        )
        c["evidence_md"] = gr.Markdown("", elem_id="lz-evidence-md")


def _aux_tab(c: dict) -> None:
    with gr.Row():
        c["revivals"] = gr.Plot(empty_figure("Revivals"), show_label=False, elem_id="lz-revivals-plot")
        c["cumulative"] = gr.Plot(
            empty_figure("Cumulative computations"), show_label=False, elem_id="lz-cumulative-plot"
        )
    with gr.Row():
        c["cache_sizes"] = gr.Plot(empty_figure("Cache sizes"), show_label=False, elem_id="lz-cache-plot")
        c["revived_table"] = gr.Dataframe(
            headers=["step", "layer", "position", "token"],
            label="Revived tokens",
            interactive=False,
            max_height=320,
            elem_id="lz-revived-table",
        )


def _walk_tab(c: dict) -> None:
    with gr.Row():
        c["back"] = gr.Button("◀ Back", size="sm", scale=0, min_width=90, elem_id="lz-back")
        c["walk_nav"] = gr.Markdown("Page 1 of 7", elem_id="lz-walk-nav")
        c["next"] = gr.Button("Next ▶", size="sm", scale=0, min_width=90, elem_id="lz-next")
    with gr.Row():
        with gr.Column(scale=2, min_width=300):
            c["walk_md"] = gr.Markdown("Run a prompt or load a trace first.", elem_id="lz-walk-md")
        with gr.Column(scale=3, min_width=420):
            c["walk_plot"] = gr.Plot(empty_figure("Walkthrough"), show_label=False, elem_id="lz-walk-plot")


def _files_tab(app: cb.App, c: dict) -> None:
    gr.Markdown(
        "Explore a trace without running a model: pick a recorded example or upload a trace JSON "
        "(exported here, or `res.trace.to_json()` from the `lazyllm` API).",
        elem_classes="lz-small",
    )
    with gr.Row():
        rec = list(app.recorded)
        first = next((r for r in rec if r.startswith(FIRST_RECORDED)), rec[0] if rec else None)
        c["recorded"] = gr.Dropdown(rec, value=first, label="Recorded example traces", elem_id="lz-recorded")
        c["upload"] = gr.File(
            label="Load a trace JSON", file_types=[".json"], type="filepath", elem_id="lz-upload"
        )
        c["download"] = gr.DownloadButton("Download this trace (JSON)", value=None, elem_id="lz-download")
    with gr.Row(visible=False):  # the /inspect_trace API endpoint's input and output
        c["api_trace_file"] = gr.File(label="trace_file", type="filepath")
        c["api_trace_info"] = gr.JSON(label="trace_info")


# --- events --------------------------------------------------------------------------------------


def _bind(fn, c: dict, outputs: list):
    """Wrap a callback returning/yielding {name: value} so it returns {component: value} for `outputs`."""
    wanted = {id(o) for o in outputs}

    def to_components(out):
        return {c[k]: v for k, v in (out or {}).items() if k in c and id(c[k]) in wanted}

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


VIEW_OUTPUTS = (
    "view", "step", "source", "status", "metrics", "timing_plot", "fidelity_plot", "base_text", "lazy_text",
    "survival", "per_layer", "importance", "top_table", "prompt_html", "evidence_plot", "evidence_md",
    "revivals", "revived_table", "cache_sizes", "cumulative", "walk_md", "walk_plot", "walk_nav", "walk_page",
    "download", "example",
)  # fmt: skip


RUN_INPUTS = (
    "prompt",
    "model",
    "preset",
    "schedule",
    "strategy",
    "max_new",
    "example",
    "step",
    "focus",
    "mode",
)
QUIET = dict(api_visibility="private", show_progress="hidden")


def _wire(demo: gr.Blocks, app: cb.App, c: dict) -> None:
    _wire_run(app, c)
    _wire_views(c)
    _wire_files(demo, app, c)
    gr.api(app.run_api, api_name="run", concurrency_limit=None, concurrency_id="runs")
    c["api_trace_file"].change(
        cb.inspect_trace,
        c["api_trace_file"],
        c["api_trace_info"],
        api_name="inspect_trace",
        show_progress="hidden",
    )


def _wire_run(app: cb.App, c: dict) -> None:
    """Examples and presets fill the run panel; Run streams every view; Stop cancels it."""

    def on_example(name):
        ex = app.examples.get(name)
        return ex["prompt"] if ex else gr.skip()

    def on_preset(preset):
        from lazyllm.config import PRESET_NOTES

        layers = app.hub.lm.num_layers if app.hub.lm is not None else cb.DEFAULT_LAYERS
        return cb.preset_rows(preset, layers), PRESET_NOTES.get(preset, "")

    c["example"].change(on_example, c["example"], c["prompt"], **QUIET)
    c["preset"].change(on_preset, c["preset"], [c["schedule"], c["preset_note"]], **QUIET)
    outs = [c[k] for k in VIEW_OUTPUTS]
    c["run"].click(
        _bind(app.run_ui, c, outs), [c[k] for k in RUN_INPUTS], outs, api_visibility="private",
        concurrency_limit=None, concurrency_id="runs", show_progress="minimal", show_progress_on=[c["status"]],
    )  # fmt: skip
    c["stop"].click(app.stop_ui, None, None, **QUIET)  # the run ends itself after its current step


def _wire_views(c: dict) -> None:
    """The step slider, the focus span and the walkthrough redraw only the views they change."""
    view = c["view"]
    step_in = [view, c["step"], c["focus"], c["mode"]]
    step_outs = [c[k] for k in ("survival", "per_layer", "importance", "top_table", "prompt_html")]
    focus_outs = step_outs + [c[k] for k in ("evidence_plot", "evidence_md", "revivals")]
    walk_outs = [c[k] for k in ("walk_md", "walk_plot", "walk_nav", "walk_page")]

    def on_focus(v, step, focus, mode):
        return {**cb.render_step(v, step, focus, mode), **cb.render_run(v, focus)}

    def on_mode(v, step, focus, mode):
        return {"prompt_html": cb.render_step(v, step, focus, mode).get("prompt_html", "")}

    def use_answer(v):
        ex = v and v.get("example")
        if not ex:
            gr.Warning("This run has no example answer span: type text to find instead.")
            return gr.skip()
        return ex.get("answer_span") or ex.get("answer") or ""

    def turn(v, page, delta):
        page = min(max(int(page) + delta, 0), len(walkthrough.PAGES) - 1)
        return {**walkthrough.render(v, page), "walk_page": page}

    c["step"].release(_bind(cb.render_step, c, step_outs), step_in, step_outs, **QUIET)
    c["mode"].change(_bind(on_mode, c, [c["prompt_html"]]), step_in, [c["prompt_html"]], **QUIET)
    c["focus"].submit(_bind(on_focus, c, focus_outs), step_in, focus_outs, **QUIET)
    refocus = dict(fn=_bind(on_focus, c, focus_outs), inputs=step_in, outputs=focus_outs, **QUIET)
    c["use_answer"].click(use_answer, view, c["focus"], **QUIET).then(**refocus)
    c["clear_focus"].click(lambda: "", None, c["focus"], **QUIET).then(**refocus)
    walk_in = [view, c["walk_page"]]
    c["next"].click(_bind(lambda v, p: turn(v, p, 1), c, walk_outs), walk_in, walk_outs, **QUIET)
    c["back"].click(_bind(lambda v, p: turn(v, p, -1), c, walk_outs), walk_in, walk_outs, **QUIET)


def _wire_files(demo: gr.Blocks, app: cb.App, c: dict) -> None:
    """Recorded traces (also on page load, before any model) and uploaded trace files."""
    outs = [c[k] for k in VIEW_OUTPUTS]

    def load(path, source, focus, mode, cached=False):
        try:
            v = app.recorded_view(path, source) if cached else cb.load_trace_file(path, source, app.examples)
        except (ValueError, OSError) as e:
            gr.Warning(str(e))
            return {"status": cb.status_html(f"Could not load the trace: {e}", "error")}
        out = cb.render_all(v, 0, focus, mode)
        out["status"] = cb.status_html(f"Loaded {v['source']}: no model needed to explore it.", "done")
        out["download"] = gr.update(value=str(path))
        if v["example"]:  # the run panel shows the same example, ready to run it live
            out["example"] = v["example"]["name"]
        return out

    def load_recorded(name, step, focus, mode):
        path = app.recorded.get(name)
        return load(path, f"recorded example: {name}", focus, mode, cached=True) if path else {}

    def load_upload(path, focus, mode):
        return load(path, None, focus, mode) if path else {}

    rec_in = [c["recorded"], c["step"], c["focus"], c["mode"]]
    c["recorded"].input(_bind(load_recorded, c, outs), rec_in, outs, **QUIET)
    c["upload"].upload(_bind(load_upload, c, outs), [c["upload"], c["focus"], c["mode"]], outs, **QUIET)
    demo.load(_bind(load_recorded, c, outs), rec_in, outs, **QUIET)
