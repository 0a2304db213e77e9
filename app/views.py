"""What the views show for a RunView: dicts {View: value}, built from figures, tables and markup.

Each view is drawn through `safe`, so one failing view shows its error and the others still draw, and
no figure larger than FIGURE_BYTES reaches a browser. Every label comes from the run (its trace and
comparison), never from the widgets.
"""

from __future__ import annotations

import logging

import gradio as gr

from app import figures as F
from app import markup as M
from app import stats as S
from app import tables, walkthrough
from app.focus import focus_span, view_scan
from app.state import RunView, TableResult
from app.viewnames import View as V

log = logging.getLogger("lazyllm.app")

FIGURE_BYTES = 3_000_000  # the largest figure sent to a browser


def safe(name: str, fn, *args, kind: str = "figure"):
    """Call a view function; on error (or an oversized figure) return a stand-in that says so."""
    try:
        out = fn(*args)
        if kind == "figure" and len(out.to_json()) > FIGURE_BYTES:
            return F.error_figure(name, f"too large to draw in a browser (over {FIGURE_BYTES // 10**6} MB)")
        return out
    except Exception as e:
        log.exception("view %s failed", name)
        msg = f"{type(e).__name__}: {str(e)[:200]}"
        if kind == "figure":
            return F.error_figure(name, msg)
        if kind == "rows":
            return []
        if kind == "value":
            return None
        return f'<div class="lz-status lz-error">{M.esc(name)} could not be drawn: {M.esc(msg)}</div>'


def render_step(view: RunView | None, step, focus: str, mode: str = "importance") -> dict:
    """The step-aware views: survival, tokens per layer, importance, top tokens, prompt, evidence."""
    if view is None:
        return {}
    t = view.trace
    step = S.clamp_step(t, step)
    span, why = focus_span(view, focus)
    rows = safe("Evidence", tables.evidence_table, t, span, step, kind="rows")
    scan = view_scan(view, span)
    return {
        V.SURVIVAL: safe("Token survival", F.survival_heatmap, t, step, span),
        V.PER_LAYER: safe("Tokens per layer", F.selected_per_layer, t, step),
        V.IMPORTANCE: safe("Importance", F.importance_plot, t, step, span),
        V.TOP_TABLE: safe("Top tokens", tables.top_tokens, t, step, kind="rows"),
        V.PROMPT_HTML: safe("Prompt", M.prompt_html, t, step, mode or "importance", span, kind="html"),
        V.EVIDENCE_TABLE: rows,
        V.EVIDENCE_MD: safe("Evidence", M.evidence_story, t, span, why, rows, step, scan, kind="html"),
    }


def render_run(view: RunView | None, focus: str) -> dict:
    """The views over all steps: evidence tracker, layer scan, revivals, caches, computations."""
    if view is None:
        return {}
    t = view.trace
    span, why = focus_span(view, focus)
    scan = view_scan(view, span)
    no_scan = "No scan: this trace has no baseline scan, or no span in the prompt."
    split = safe("Baseline's attention at the split", S.split_evidence, t, view.comparison, kind="value")
    return {
        V.EVIDENCE_TABS: gr.update(selected=evidence_choice(split, focus)),
        V.SPLIT_HTML: safe(
            "Baseline's attention at the split", M.split_html, t, split, view.comparison, kind="html"
        ),
        V.SPLIT_PLOT: safe(
            "Baseline's attention at the split", F.split_plot, t, split, M.no_split(view.comparison)
        ),
        V.EVIDENCE_PLOT: safe("Evidence", F.evidence_plot, t, span, view.divergence),
        V.SCAN_PLOT: safe(
            "Layer scan", F.scan_plot, scan, t.schedule, "Layer scan", t.layer_types, t.sliding_window
        )
        if scan
        else F.empty_figure("Layer scan", no_scan),
        V.SCAN_MD: scan_text(view, span, why, scan),
        V.REVIVALS: safe("Revivals", F.revivals_heatmap, t, span),
        V.REVIVED_TABLE: safe("Revived tokens", tables.revived_tokens, t, kind="rows"),
        V.CACHE_SIZES: safe("Cache sizes", F.cache_sizes_plot, t),
        V.CUMULATIVE: safe("Cumulative computations", F.cumulative_compute_plot, t),
    }


def evidence_choice(split, focus: str) -> str:
    """The Evidence view shown first: the split where the texts part ("split"), the focus span ("span")
    where they agree or the visitor typed a span."""
    return "span" if split is None or (focus or "").strip() else "split"


def _first_prune(view: RunView, scan) -> str:
    """Where this run prunes first, against where the span is safe (Markdown)."""
    if not view.trace.schedule:
        return ""
    first = view.trace.schedule[0][0]
    where = f" This run prunes first after layer **{first}**"
    if scan.safe_from is None:
        return where + "."
    if first < scan.safe_from:
        return where + " — before the span is safe: pruning there can cut it."
    return where + " — where the span is already safe."


def scan_text(view: RunView, span, why: str, scan) -> str:
    if scan is None:
        return "The layer scan comes with a run (its baseline scores every layer at prefill)."
    a, b = span
    words = M.esc("".join(view.trace.tokens[a:b]), 60)
    keep = f"{scan.keep_fraction:.0%}"
    where = (
        f"never stays inside the top {keep} through the last layer"
        if scan.safe_from is None
        else f"is inside the top {keep} from layer **{scan.safe_from}** on"
    )
    return (
        f"Span “{words}” ({M.esc(why)}). With no pruning, its worst token {where} (percentile ranks among "
        f"the {view.trace.prompt_len} prompt tokens at prefill: 0% = the most attended).{_first_prune(view, scan)}"
    )


def _no_comparison(view: RunView) -> dict:
    stopped = view.source.startswith("stopped")
    msg = (
        "Stopped before the baseline comparison: no timings or fidelity for this run; run it again to compare."
        if stopped
        else "This trace has no baseline comparison (a bare trace file): run a prompt to compare."
    )
    t = view.trace
    label = f"{M.run_name(t)} ({view.source})"
    text = M.text_html(t.tokens[t.prompt_len :], None, label) if stopped else ""
    return {
        V.VERDICT: M.verdict_html(None, None) if not stopped else M.note_html(msg),
        V.METRICS: M.note_html(msg),
        V.BASE_TEXT: "",
        V.LAZY_TEXT: text,
        V.TIMING_PLOT: F.empty_figure("Time per step", msg),
        V.FIDELITY_PLOT: F.empty_figure("Fidelity", msg),
        V.JUMP: gr.update(value="Go to the divergence", interactive=False),
    }


def render_summary(view: RunView | None) -> dict:
    """The results panel: verdict, texts, numbers, where the time went, teacher-forced fidelity."""
    if view is None:
        return {}
    c = view.comparison
    if c is None:
        return _no_comparison(view)
    div = c.first_divergence
    label = M.run_name(view.trace)
    revived = S.revived_per_step(view.trace)  # the token-layers each step took back: metrics and chart
    return {
        V.VERDICT: M.verdict_html(view.verdict(), view.correct(), div),
        V.METRICS: safe(
            "Metrics",
            M.metrics_html,
            c,
            revived,
            S.prefill_compute_share(view.trace),
            kind="html",
        ),
        V.TIMING_PLOT: safe("Time per step", F.step_times_plot, c, revived),
        V.FIDELITY_PLOT: safe("Fidelity", F.fidelity_plot, c.kl_per_step, c.top1_per_step, div),
        V.BASE_TEXT: safe("Baseline text", M.text_html, c.baseline_tokens, None, "baseline", kind="html"),
        V.LAZY_TEXT: safe("Text", M.text_html, c.lazy_tokens, div, label, kind="html"),
        V.JUMP: gr.update(
            value="Texts agree: no divergence" if div is None else f"Go to the divergence (step {div})",
            interactive=div is not None and div < view.trace.num_steps,
        ),
    }


def render_all(view: RunView | None, step, focus: str, mode: str = "importance") -> dict:
    if view is None:
        return {}
    t = view.trace
    step = S.clamp_step(t, step)
    out = {**render_summary(view), **render_step(view, step, focus, mode), **render_run(view, focus)}
    out[V.VIEW] = view
    out[V.STEP] = gr.update(maximum=max(t.num_steps - 1, 1), value=step)
    out.update(walkthrough.render(view, 0))
    out[V.SOURCE] = M.source_html(view)
    return out


PENDING_FIGURES = {
    V.SURVIVAL: "Token survival",
    V.PER_LAYER: "Tokens per layer",
    V.IMPORTANCE: "Importance",
    V.EVIDENCE_PLOT: "Evidence",
    V.SPLIT_PLOT: "Baseline's attention at the split",
    V.SCAN_PLOT: "Layer scan",
    V.REVIVALS: "Revivals",
    V.CACHE_SIZES: "Cache sizes",
    V.CUMULATIVE: "Computations",
    V.TIMING_PLOT: "Time per step",
    V.FIDELITY_PLOT: "Fidelity",
    V.WALK_PLOT: "Walkthrough",
}
PENDING_TEXTS = {
    V.VERDICT: "the verdict",
    V.METRICS: "the comparison",
    V.BASE_TEXT: "the baseline's text",
    V.LAZY_TEXT: "LazyLLM's text",
    V.PROMPT_HTML: "the shaded prompt",
    V.EVIDENCE_MD: "the evidence",
    V.SPLIT_HTML: "the baseline's attention at the split",
    V.SCAN_MD: "the layer scan",
    V.WALK_MD: "the walkthrough",
    V.SOURCE: "what is on screen",
}


def pending_views() -> dict:
    """Every view marked pending when a run starts: nothing of the previous run stays on screen."""
    out = {k: F.pending_figure(title) for k, title in PENDING_FIGURES.items()}
    out.update({k: [] for k in (V.TOP_TABLE, V.EVIDENCE_TABLE, V.REVIVED_TABLE)})
    out.update({k: M.pending_html(what) for k, what in PENDING_TEXTS.items()})
    out[V.JUMP] = gr.update(value="Go to the divergence", interactive=False)
    out[V.DOWNLOAD] = gr.update(value=None)
    out[V.EVIDENCE_TABS] = gr.update()  # the choice follows the run's views
    return out


def stopped_views() -> dict:
    """Every view of a Run stopped before its first step: none says pending any more."""
    what = "Stopped before the first step: run again to see this view."
    out = {k: F.empty_figure(title, what) for k, title in PENDING_FIGURES.items()}
    out.update({k: [] for k in (V.TOP_TABLE, V.EVIDENCE_TABLE, V.REVIVED_TABLE)})
    out.update({k: M.note_html(what) for k in PENDING_TEXTS})
    out[V.JUMP] = gr.update(value="Go to the divergence", interactive=False)
    return out


def table_row(r: dict) -> list:
    """One row of the strategies / sweep table, formatted."""
    return [
        r["label"],
        r["answer"],
        f"{r['mean_kl']:.3g}",
        f"{r['top1']:.0%}",
        f"{r['ttft_speedup']:.2f}×",
        f"{r['compute_fraction']:.0%}",
        r["config"],
        _cut(" ".join(r.get("text", "").split()), 160),  # a Dataframe cell shows text as text
    ]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table_views(result: TableResult) -> dict:
    """The live Table 1 or the sweep: one table, one chart."""
    title = "Strategies at the same budget" if result.kind == "strategies" else "Keep-fraction sweep"
    chart = f"{title}: teacher-forced KL vs TTFT speedup"
    return {
        V.TABLE: [table_row(r) for r in result.rows],
        V.TABLE_PLOT: safe(title, F.tradeoff_plot, result.rows[1:], chart),
    }
