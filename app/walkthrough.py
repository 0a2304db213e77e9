"""A guided walkthrough of LazyLLM, told on the current run's real data (Next / Back).

Each page is a function `(trace, summary) -> (markdown, figure)`; the numbers in the text come from
the trace, so the story is always about the run on screen.
"""

from __future__ import annotations

import numpy as np

from app import figures as F


def _first_revival(trace):
    """(step, layer, position) of the most important token revived at the first step with revivals."""
    for t, s in enumerate(trace.steps):
        revivals = [(layer, int(p)) for layer, pos in sorted(s.revived.items()) for p in pos]
        if revivals:

            def score(r, s=s):
                sc = s.scores.get(r[0] - 1)
                return -1.0 if sc is None or np.isnan(sc[r[1]]) else float(sc[r[1]])

            layer, pos = max(revivals, key=score)
            return t, layer, pos
    return None


def page_prefill(trace, summary):
    n, L = trace.prompt_len, trace.num_layers
    comp = sum(len(v) for v in trace.steps[0].computed.values())
    text = f"""### 1 · Prefill
Generating text has two stages. **Prefill** reads the whole prompt ({n} tokens here) through all
{L} layers and produces the first token; the time it takes is the **time to first token (TTFT)**.
**Decode** then produces one token per step, reusing the prompt's keys and values (the KV cache).

A normal model computes every prompt token at every layer: {n} × {L} = **{n * L:,}** computations.
LazyLLM computed **{comp:,}** here ({comp / (n * L):.0%}). The heatmap shows which: dark blue =
computed, grey = skipped, one row per layer, one column per token."""
    return text, F.survival_heatmap(trace, 0)


def page_importance(trace, summary):
    s = trace.steps[0]
    if not s.scores:
        return (
            "### 2 · Importance\nThis run has no pruning layers (baseline), so nothing was scored.",
            F.empty_figure("Importance", "baseline run"),
        )
    layer = min(s.scores)
    top = F.top_tokens(trace, 0, 3)
    names = ", ".join(f"“{r[3]}” ({r[4]:.2g})" for r in top if r[0] == layer)
    text = f"""### 2 · Which tokens matter?
To predict the next token, the model's **last token** looks back at the others through attention.
LazyLLM scores each token *i* at layer *l* by the attention the last token pays to it, averaged over
heads (paper §3.2, Eq. 1). At layer {layer} the top tokens were {names}.

Scores span orders of magnitude (log scale); the dashed line is the **percentile threshold**: tokens
below it are pruned."""
    return text, F.importance_plot(trace, 0)


def page_pruning(trace, summary):
    counts = F.selected_counts(trace, 0)
    lines = []
    for layer, keep in trace.schedule:
        if layer + 1 < trace.num_layers:
            lines.append(
                f"- after layer {layer}: keep {keep:.0%} → {counts[layer + 1]} of {counts[layer]} tokens go on"
            )
    text = f"""### 3 · Progressive pruning
At a few layers LazyLLM keeps only the top fraction of the tokens that entered that layer; each
later layer sees a subset of the previous one. Pruning late costs less accuracy than pruning early
(paper §5.4), so the schedule keeps everything through the first layers.

{chr(10).join(lines) or "- no pruning in this run"}

The last token is never pruned: it is the one that predicts the next token."""
    return text, F.selected_per_layer(trace, 0)


def page_aux(trace, summary):
    aux0 = trace.steps[0].aux_len
    total = int(aux0.sum())
    busiest = int(np.argmax(aux0))
    text = f"""### 4 · The Aux Cache
A token pruned after layer *l* is not thrown away: its hidden state after layer *l* goes into the
**Aux Cache** of that layer. After prefill the Aux Caches hold **{total}** hidden states (most at layer
{busiest}: {int(aux0[busiest])}). The KV cache of each layer holds only the tokens computed there, so
caches of different layers have different lengths (left); the Aux Cache is on the right."""
    return text, F.cache_sizes_plot(trace)


def page_revival(trace, summary):
    rev = _first_revival(trace)
    if rev is None:
        text = """### 5 · Revival
Every decode step chooses again, over the whole context, which tokens matter for *its* next token.
A token pruned earlier can come back. In this run no token was revived: the steps agreed on what
mattered (or the run had a single step)."""
        return text, F.revivals_heatmap(trace)
    t, layer, pos = rev
    tok = F.token_label(trace.tokens[pos])
    total = int(F.revivals_grid(trace).sum())
    text = f"""### 5 · A decode step revives a token
Every decode step chooses again, over the whole context, which tokens matter for *its* next token.
At **step {t}**, token {pos} “{tok}” was needed at **layer {layer}** although it had been pruned
before. Its hidden state came from the Aux Cache of layer {layer - 1}, so only layers {layer} and up
were computed for it: nothing is recomputed from scratch. Orange cells: revived ({total} in the run)."""
    return text, F.survival_heatmap(trace, t, (pos, pos + 1))


def page_once(trace, summary):
    worst = F.max_computations_per_cell(trace)
    frac = trace.prompt_compute_fraction()
    text = f"""### 6 · At most once per layer
Each layer computes a token at most once over the whole generation: later steps take its KV from
the cache, or its hidden state from the Aux Cache, never recompute it. So LazyLLM can never cost
more than the baseline (plus the small cost of scoring). In this run the most times any (token,
layer) was computed is **{worst}**, and prompt computations reached **{frac:.0%}** of the baseline's
by the last step (paper Figs. 3 and 7)."""
    return text, F.cumulative_compute_plot(trace)


def page_speedup(trace, summary):
    if not summary:
        text = """### 7 · The speedup
This trace was loaded without its baseline run, so there are no timings to compare. Run a prompt
to see TTFT and generation speedups side by side."""
        return text, F.cumulative_compute_plot(trace)
    s = summary
    text = f"""### 7 · The speedup
Fewer tokens through the expensive layers means a faster prefill: TTFT went from
{s["baseline_ttft_s"]:.2f} s to {s["lazy_ttft_s"]:.2f} s (**{s["ttft_speedup"]:.2f}×**), the whole generation
{s["generation_speedup"]:.2f}× faster. Fidelity: **{s["token_agreement"]:.0%}** of the generated tokens
match the unpruned model, top-1 agreement {s["top1_agreement"]:.0%}. On this tiny model on a CPU the
gain is smaller than the paper's 2.34× on Llama 2 7B: attention is a smaller share of the work."""
    return text, F.timing_plot(s)


PAGES = (page_prefill, page_importance, page_pruning, page_aux, page_revival, page_once, page_speedup)


def render(view: dict | None, page: int) -> dict:
    """{"walk_md", "walk_plot", "walk_nav"} for page `page` (clamped) of the current view."""
    page = int(min(max(int(page or 0), 0), len(PAGES) - 1))
    nav = f"Page {page + 1} of {len(PAGES)}"
    if not view:
        return {
            "walk_md": "Run a prompt or load a trace first.",
            "walk_plot": F.empty_figure("Walkthrough"),
            "walk_nav": nav,
        }
    try:
        text, fig = PAGES[page](view["trace"], view.get("summary"))
    except Exception as e:  # one broken page must not break the tab
        text, fig = f"This page could not be drawn: {e}", F.error_figure("Walkthrough", str(e))
    return {"walk_md": text, "walk_plot": fig, "walk_nav": nav}
