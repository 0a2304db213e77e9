"""What the views show for a RunView: dicts {view name: value}, built from figures and markup.

Each view is drawn through `safe`, so one failing view shows its error and the others still draw, and
no figure larger than FIGURE_BYTES reaches a browser. Every label comes from the run (its trace and
comparison), never from the widgets.
"""

from __future__ import annotations

import logging
import re

import gradio as gr
import numpy as np

from app import figures as F
from app import markup as M
from app import walkthrough
from app.state import RunView, TableResult
from lazyllm.scan import copied_span, layer_scan

log = logging.getLogger("lazyllm.app")

FIGURE_BYTES = 3_000_000  # the largest figure sent to a browser
SPAN_WHY_POSITIONS = "the positions you typed"


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
        return f'<div class="lz-status lz-error">{M.esc(name)} could not be drawn: {M.esc(msg)}</div>'


# --- the focus span: the visitor's, or chosen automatically ---------------------------------------


def focus_span(view: RunView, focus: str) -> tuple[tuple[int, int] | None, str]:
    """(span, why): positions "120-135" or text typed by the visitor; else the example's answer span,
    the expected answer in the prompt, the prompt span the baseline's output copies, or the prompt
    tokens the last token attended to most at the divergence step (prefill when the texts agree)."""
    t = view.trace
    focus = (focus or "").strip()
    if focus:
        m = re.fullmatch(r"([0-9]{1,7})\s*(?:[-:–]\s*([0-9]{1,7}))?", focus)
        if m:
            a, b = int(m.group(1)), int(m.group(2) or m.group(1))
            return F.clamp_span(t, (min(a, b), max(a, b) + 1), 0), SPAN_WHY_POSITIONS
        span = F.find_span(t, focus)
        return span, ("the text you typed" if span else f"“{focus[:60]}” is not in the prompt")
    if view.example is not None and (span := F.find_span(t, view.example.answer_span)):
        return span, f"the example's answer (“{view.example.answer_span[:60]}”)"
    if view.expected and (span := F.find_span(t, view.expected)):
        return span, "where the expected answer appears in the prompt"
    if view.comparison is not None:
        span = copied_span(t.tokens[: t.prompt_len], view.comparison.baseline_tokens)
        if span is not None:
            return span, "the prompt text the baseline's output copies (longest common run of tokens)"
    return _most_attended(view)


def _most_attended(view: RunView):
    """The prompt tokens around the one the last token attended to most (attention sink at 0 excluded)."""
    t = view.trace
    step = F.clamp_step(t, view.divergence or 0)
    scores = t.steps[step].scores
    if not scores:
        return None, "no span: this run scored no token (no pruning layers) and has no known answer"
    layer = max(scores)
    sc = np.nan_to_num(scores[layer][: t.prompt_len], nan=-1.0)
    sc[0] = -1.0
    p = int(np.argmax(sc))
    when = f"the divergence step {step}" if view.divergence is not None else "prefill"
    span = (max(p - 1, 1), min(p + 2, t.prompt_len))
    return (
        span,
        f"the prompt tokens the last token attended to most at {when} (layer {layer}; the sink at 0 left out)",
    )


def scan_keep(view: RunView) -> float:
    """The keep fraction the scan checks against: the run's first pruning stage's (0.5 without one)."""
    return float(view.trace.schedule[0][1]) if view.trace.schedule else 0.5


def view_scan(view: RunView, span):
    if view.scan is None or span is None or span[1] > view.trace.prompt_len:
        return None
    return layer_scan(view.scan, span, scan_keep(view))


# --- the views ------------------------------------------------------------------------------------


def render_step(view: RunView | None, step, focus: str, mode: str = "importance") -> dict:
    """The step-aware views: survival, tokens per layer, importance, top tokens, prompt, evidence."""
    if view is None:
        return {}
    t = view.trace
    step = F.clamp_step(t, step)
    span, why = focus_span(view, focus)
    rows = safe("Evidence", F.evidence_table, t, span, step, kind="rows")
    scan = view_scan(view, span)
    return {
        "survival": safe("Token survival", F.survival_heatmap, t, step, span),
        "per_layer": safe("Tokens per layer", F.selected_per_layer, t, step),
        "importance": safe("Importance", F.importance_plot, t, step, span),
        "top_table": safe("Top tokens", F.top_tokens, t, step, kind="rows"),
        "prompt_html": safe("Prompt", M.prompt_html, t, step, mode or "importance", span, kind="html"),
        "evidence_table": rows,
        "evidence_md": safe("Evidence", M.evidence_story, t, span, why, rows, step, scan, kind="html"),
    }


def render_run(view: RunView | None, focus: str) -> dict:
    """The views over all steps: evidence tracker, layer scan, revivals, caches, computations."""
    if view is None:
        return {}
    t = view.trace
    span, why = focus_span(view, focus)
    scan = view_scan(view, span)
    return {
        "evidence_plot": safe("Evidence", F.evidence_plot, t, span, view.divergence),
        "scan_plot": safe("Layer scan", F.scan_plot, scan, t.schedule)
        if scan
        else F.empty_figure(
            "Layer scan", "No scan: this trace has no baseline scan, or no span in the prompt."
        ),
        "scan_md": scan_text(view, span, why, scan),
        "revivals": safe("Revivals", F.revivals_heatmap, t, span),
        "revived_table": safe("Revived tokens", F.revived_tokens, t, kind="rows"),
        "cache_sizes": safe("Cache sizes", F.cache_sizes_plot, t),
        "cumulative": safe("Cumulative computations", F.cumulative_compute_plot, t),
    }


def scan_text(view: RunView, span, why: str, scan) -> str:
    if scan is None:
        return "The layer scan comes with a run (its baseline scores every layer at prefill)."
    a, b = span
    words = M.esc("".join(view.trace.tokens[a:b]), 60)
    first = view.trace.schedule[0][0] if view.trace.schedule else None
    where = "" if first is None else f" This run prunes first after layer **{first}**" + (
        "." if scan.safe_from is None else (" — before the span is safe: pruning there can cut it."
                                            if first < scan.safe_from else " — where the span is already safe.")
    )  # fmt: skip
    safe_from = "never" if scan.safe_from is None else f"from layer **{scan.safe_from}** on"
    return (
        f"Span “{words}” ({M.esc(why)}). With no pruning, its worst token is inside the top "
        f"{scan.keep_fraction:.0%} {safe_from}.{where}"
    )


def render_summary(view: RunView | None) -> dict:
    """The results panel: verdict, texts, numbers, where the time went, teacher-forced fidelity."""
    if view is None:
        return {}
    c = view.comparison
    if c is None:
        msg = "This trace has no baseline comparison (a bare trace file): run a prompt to compare."
        return {
            "verdict": M.verdict_html(None, None), "metrics": M.note_html(msg), "base_text": "", "lazy_text": "",
            "timing_plot": F.empty_figure("Time per step", msg), "fidelity_plot": F.empty_figure("Fidelity", msg),
            "jump": gr.update(value="Go to the divergence", interactive=False),
        }  # fmt: skip
    div = c.first_divergence
    label = view.trace.config_label or view.trace.config_name
    return {
        "verdict": M.verdict_html(view.verdict(), view.correct()),
        "metrics": safe("Metrics", M.metrics_html, c, view.trace.extra_token_layers(), kind="html"),
        "timing_plot": safe("Time per step", F.step_times_plot, c, F.revived_per_step(view.trace)),
        "fidelity_plot": safe("Fidelity", F.fidelity_plot, c.kl_per_step, c.top1_per_step, div),
        "base_text": safe("Baseline text", M.text_html, c.baseline_tokens, None, "baseline", kind="html"),
        "lazy_text": safe("Text", M.text_html, c.lazy_tokens, div, label, kind="html"),
        "jump": gr.update(
            value="Texts agree: no divergence" if div is None else f"Go to the divergence (step {div})",
            interactive=div is not None and div < view.trace.num_steps,
        ),
    }


def render_all(view: RunView | None, step, focus: str, mode: str = "importance") -> dict:
    if view is None:
        return {}
    t = view.trace
    step = F.clamp_step(t, step)
    out = {**render_summary(view), **render_step(view, step, focus, mode), **render_run(view, focus)}
    out["view"] = view
    out["step"] = gr.update(maximum=max(t.num_steps - 1, 1), value=step)
    out.update(walkthrough.render(view, 0))
    out["source"] = M.source_html(view)
    return out


PENDING_FIGURES = {
    "survival": "Token survival", "per_layer": "Tokens per layer", "importance": "Importance",
    "evidence_plot": "Evidence", "scan_plot": "Layer scan", "revivals": "Revivals", "cache_sizes": "Cache sizes",
    "cumulative": "Computations", "timing_plot": "Time per step", "fidelity_plot": "Fidelity",
    "walk_plot": "Walkthrough",
}  # fmt: skip


def pending_views() -> dict:
    """Every view marked pending when a run starts: nothing of the previous run stays on screen."""
    out = {k: F.pending_figure(title) for k, title in PENDING_FIGURES.items()}
    out.update({k: [] for k in ("top_table", "evidence_table", "revived_table")})
    for k, what in (("verdict", "the verdict"), ("metrics", "the comparison"), ("base_text", "the baseline's text"),
                    ("lazy_text", "the pruned run's text"), ("prompt_html", "the shaded prompt"),
                    ("evidence_md", "the evidence"), ("scan_md", "the layer scan"), ("walk_md", "the walkthrough"),
                    ("source", "what is on screen")):  # fmt: skip
        out[k] = M.pending_html(what)
    out["jump"] = gr.update(value="Go to the divergence", interactive=False)
    out["download"] = gr.update(value=None)
    return out


def table_views(result: TableResult) -> dict:
    """The live Table 1 or the sweep: one table, one chart."""
    rows = [
        [r["label"], r["answer"], f"{r['mean_kl']:.3g}", f"{r['top1']:.0%}", f"{r['ttft_speedup']:.2f}×",
         f"{r['compute_fraction']:.0%}", r["config"]]
        for r in result.rows
    ]  # fmt: skip
    title = "Strategies at the same budget" if result.kind == "strategies" else "Keep-fraction sweep"
    return {
        "table": rows,
        "table_plot": safe(
            title, F.tradeoff_plot, result.rows[1:], f"{title}: teacher-forced KL vs TTFT speedup"
        ),
    }
