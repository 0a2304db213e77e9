"""A guided walkthrough of LazyLLM, told on the current run's data (Next / Back).

Each page is a function `(view) -> (markdown, figure)`; every number in the text comes from the run on
screen (its trace, comparison and layer scan), and no sentence claims more than the run shows.
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from app import figures as F
from app import stats as S
from app.focus import focus_span, view_scan
from app.markup import esc, run_name, speed_text, token_label
from app.tables import top_tokens
from app.viewnames import View as V


def page_prefill(view):
    t = view.trace
    n, L = t.prompt_len, t.num_layers
    comp = sum(len(v) for v in t.steps[0].computed.values())
    text = f"""### 1 · Prefill
Generating text has two stages. **Prefill** reads the whole prompt ({n} tokens here) through all
{L} layers and produces the first token; its time is the **time to first token (TTFT)**.
**Decode** then produces one token per step, reusing the prompt's keys and values (the KV cache).

A normal model computes every prompt token at every layer: {n} × {L} = **{n * L:,}** computations.
LazyLLM computed **{comp:,}** of them at prefill ({comp / (n * L):.0%}). The heatmap shows which: one
row per layer, one column per token."""
    return text, F.survival_heatmap(t, 0)


def page_importance(view):
    t = view.trace
    s = t.steps[0]
    if not s.scores:
        return (
            "### 2 · Which tokens matter?\nThis run has no pruning layers (baseline), so nothing was scored.",
            F.empty_figure("Importance", "baseline run"),
        )
    layer = min(s.scores)
    names = ", ".join(f"“{esc(r[3])}” ({r[4]:.2g})" for r in top_tokens(t, 0, 3) if r[0] == layer)
    text = f"""### 2 · Which tokens matter?
To predict the next token, the model's **last token** looks back at the others through attention.
LazyLLM scores token *i* at layer *l* by the attention the last token pays to it, averaged over heads
(paper §3.2, Eq. 1). At layer {layer} of this run the top tokens were {names}.

{sink_sentence(s.scores[layer])} Scores span orders of magnitude (log scale); the dashed line is the
**percentile threshold** of each pruning layer: tokens below it are pruned."""
    return text, F.importance_plot(t, 0)


def sink_sentence(scores) -> str:
    """What this run says of the first token: an attention sink where it takes the most attention."""
    sc = np.nan_to_num(scores, nan=0.0)
    sink = float(sc[0])
    if sink >= sc.max() and sink >= 0.2:
        return (
            f"The first token gets {sink:.0%} of that attention here: an **attention sink**. Models park "
            "attention on the first token when no other token needs it; it says little about what the text "
            "means, and the first token is cheap to keep."
        )
    return (
        f"The first token gets {sink:.0%} of that attention here, so at this layer it is not the attention "
        "sink many models make of it (a token that takes most of the attention no other token needs)."
    )


def page_scan(view):
    span, why = focus_span(view, "")
    scan = view_scan(view, span)
    if scan is None:
        text = """### 3 · Where to prune
The layer scan needs a run of this prompt (its baseline scores every layer at prefill) and a span of
the prompt to follow: run a prompt to see it."""
        return text, F.empty_figure("Layer scan", "no scan for this trace")
    early = scan.worst[: max(len(scan.worst) // 3, 1)]
    first = view.trace.schedule[0][0] if view.trace.schedule else None
    safe = "never stays" if scan.safe_from is None else f"stays from layer **{scan.safe_from}** on"
    verdict = ""
    if first is not None and scan.safe_from is not None:
        early_cut = first < scan.safe_from
        when = (
            "*before* the span is safe, so the cut can take part of it."
            if early_cut
            else "after the span is safe."
        )
        verdict = f" This run prunes first after layer {first}: {when}"
    text = f"""### 3 · Where to prune: the layer scan
Does the last token "find" the part of the prompt that matters at every layer? The scan runs one
prefill without pruning and ranks the span ({esc(why)}) at every layer.

In the first third of the layers its worst token ranks between the top {early.min():.0%} and
{early.max():.0%} of the prompt; the whole span {safe} inside the top {scan.keep_fraction:.0%}.
{late_claim(scan)}{verdict}"""
    t = view.trace
    return text + hybrid_note(t), F.scan_plot(scan, t.schedule, "Layer scan", t.layer_types, t.sliding_window)


def late_claim(scan) -> str:
    """What this run's scan says of "pruning late costs less" (paper §5.4): the claim where the span's
    worst token ranks higher in the last third of the layers than in the first, else what the run shows."""
    third = max(len(scan.worst) // 3, 1)
    early, late = float(np.mean(scan.worst[:third])), float(np.mean(scan.worst[-third:]))
    numbers = (
        f"its worst token ranks in the top {early:.0%} on average in the first third, {late:.0%} in the last"
    )
    if late >= early:
        return (
            f"In this run the later layers do not rank the span higher ({numbers}), so this scan does not show "
            "that pruning late costs less; the paper reports it on average over benchmarks (§5.4), not for "
            "every prompt."
        )
    if scan.safe_from is None:
        return (
            f"In this run the span ranks higher in later layers ({numbers}) but never stays inside the keep "
            "fraction: a prune at any layer can cut part of it, later ones less (paper §5.4)."
        )
    return (
        f"In this run the span ranks higher in later layers ({numbers}): pruning before layer "
        f"{scan.safe_from} can lose it, pruning after it does not — what the paper reports on average "
        "(pruning late costs less, §5.4)."
    )


def hybrid_note(trace) -> str:
    """Where a hybrid model (Gemma 3) scores, and why: one sentence, only for such a model."""
    if not trace.layer_types or "sliding" not in trace.layer_types:
        return ""
    full = [i for i, kind in enumerate(trace.layer_types) if kind == "full"]
    w = trace.sliding_window
    return (
        f"\n\nOn this model only the global layers ({', '.join(map(str, full))}) prune: at a sliding-window "
        f"layer (shaded) the last token sees only the last {w} positions, so it cannot judge the older "
        "tokens that the later global layers still read."
    )


def page_pruning(view):
    t = view.trace
    counts = S.selected_counts(t, 0)
    lines = [
        f"- after layer {layer}: keep {keep:.0%} of the {counts[layer]} tokens entering it → {counts[layer + 1]} go on"
        for layer, keep in t.schedule[:12]
        if layer + 1 < t.num_layers
    ]
    text = f"""### 4 · Progressive pruning
At a few layers LazyLLM keeps only the top fraction of the tokens that entered that layer; each later
layer sees a subset of the previous one. "Pruned after layer *l*" means: not computed from layer *l+1*
on, in this step.

{chr(10).join(lines) or "- no pruning in this run"}

The last token is never pruned: it is the one that predicts the next token."""
    return text + hybrid_note(t), F.selected_per_layer(t, 0)


def page_aux(view):
    t = view.trace
    aux0 = t.steps[0].aux_len
    total, busiest = int(aux0.sum()), int(np.argmax(aux0))
    text = f"""### 5 · The Aux Cache
A token pruned after layer *l* is not thrown away: its hidden state after layer *l* goes into the
**Aux Cache of layer *l***. After prefill the Aux Caches hold **{total}** hidden states (most at layer
{busiest}: {int(aux0[busiest])}). Each layer's KV cache holds only the tokens computed there, so caches
of different layers have different lengths (top, in tokens); the Aux Cache is below."""
    return text, F.cache_sizes_plot(t)


def page_revival(view):
    t = view.trace
    rev = S.first_revival(t)
    if rev is None:
        text = """### 6 · Revival
Every decode step chooses again, over the whole context, which tokens matter for *its* next token, so
a token pruned earlier can come back. In this run no token was revived."""
        return text, F.revivals_heatmap(t)
    step, layer, pos = rev
    total = int(S.revivals_grid(t).sum())
    text = f"""### 6 · A decode step revives a token
Every decode step chooses again, over the whole context, which tokens matter for *its* next token.
At **step {step}**, token {pos} “{esc(token_label(t.tokens[pos], escape=False))}” was needed at
**layer {layer}** although it had been pruned after layer {layer - 1}. Its hidden state came from the
Aux Cache of layer {layer - 1}, so only layers {layer} and up were computed for it: nothing is
recomputed from scratch. At layer {layer}, its first layer back, it is computed like a new token: its
query attends, causally by its original position, to the tokens selected at layer {layer} in this step
(not to the ones it saw at prefill), and its key and value join layer {layer}'s KV cache. Orange cells:
revivals ({total} in this run, each revived token counted once, at the layer it re-entered); the
outlined column is that token."""
    return text, F.survival_heatmap(t, step, (pos, pos + 1))


def page_once(view):
    t = view.trace
    worst = S.max_computations_per_cell(t)
    frac = t.prompt_compute_fraction()
    revived = S.revived_per_step(t)
    c = view.comparison
    decode = f" In this run: {speed_text(c, revived)}" if c is not None else ""
    text = f"""### 7 · At most once per layer
Each layer computes a token at most once over the whole generation: later steps take its KV from the
cache, or its hidden state from the Aux Cache, never recompute it. So the computations never exceed the
baseline's. In this run the most times any (token, layer) was computed is **{worst}**, and prompt
computations reached **{frac:.0%}** of the baseline's by the last step (paper Figs. 3 and 7).

{deferred_work(revived)}{decode}"""
    return text, F.cumulative_compute_plot(t)


def deferred_work(revived: list[int]) -> str:
    """What the decode steps of this run computed for revived tokens (token-layers per step)."""
    total = sum(revived[1:])
    if total == 0:
        return (
            "Time is another matter, though not in this run: no decode step revived a token, so each "
            "computed only its new token (a token-layer: one token at one layer)."
        )
    return (
        "Time is another matter: the decode steps do the work the prefill deferred. Here they computed "
        f"**{total:,}** token-layers for tokens revived from the Aux Cache (a token-layer: one token at one "
        f"layer; a revived token counts once per layer computed for it), most at step "
        f"{int(np.argmax(revived))}: a decode step carries that work on top of the baseline's one token per "
        "layer."
    )


def page_outcome(view):
    c = view.comparison
    if c is None:
        text = """### 8 · The outcome
This trace was loaded without its baseline run: there are no timings or fidelity numbers to show.
Run a prompt to see them."""
        return text, F.cumulative_compute_plot(view.trace)
    right = view.correct()
    name = esc(run_name(view.trace))
    answer = "" if right is None else f" {name}'s answer is **{'right' if right else 'wrong'}**."
    answer += split_line(view)
    text = f"""### 8 · The outcome
{esc(view.verdict())} TTFT went from {c.baseline_ttft_s:.2f} s to {c.lazy_ttft_s:.2f} s
(**{c.ttft_speedup:.2f}×**) with {S.prefill_compute_share(view.trace):.0%} of the baseline's prompt
computations at prefill ({c.compute_fraction:.0%} over the whole generation).{answer}

Teacher-forced fidelity (LazyLLM fed the baseline's tokens, so both predict from the same
context): top-1 agreement **{c.top1_agreement:.0%}**, mean KL {c.mean_kl:.3g} nats. The paper reports
2.34× TTFT on LongBench multi-document QA for Llama 2 7B on an A100; the numbers here are this run's,
on this model and this machine."""
    return text, F.fidelity_plot(c.kl_per_step, c.top1_per_step, c.first_divergence)


def split_line(view) -> str:
    """One sentence on what the baseline relied on where the texts part (Evidence, at the split)."""
    try:
        split = S.split_evidence(view.trace, view.comparison)
    except ValueError:
        return ""
    if split is None:
        return ""
    dropped = [t for t in split.tokens if t.dropped_after is not None]
    top = ", ".join(
        f"“{esc(token_label(view.trace.tokens[t.position], escape=False))}”" for t in split.tokens[:3]
    )
    return (
        f" Where the texts part (step {split.step}), the baseline's last token attended most to {top}, …; "
        f"{esc(run_name(view.trace))} dropped {len(dropped)} of its top {len(split.tokens)} there "
        "(**Evidence → At the split**)."
    )


PAGES = (
    page_prefill,
    page_importance,
    page_scan,
    page_pruning,
    page_aux,
    page_revival,
    page_once,
    page_outcome,
)


def render(view, page) -> dict:
    """The walkthrough's views for page `page` (clamped) of the current view; Back/Next off at the ends."""
    last = len(PAGES) - 1
    try:
        page = min(max(int(page or 0), 0), last)
    except (TypeError, ValueError, OverflowError):
        page = 0
    out = {
        V.WALK_NAV: f"Page {page + 1} of {len(PAGES)}",
        V.WALK_PAGE: page,
        V.BACK: gr.update(interactive=page > 0),
        V.NEXT: gr.update(interactive=page < last),
    }
    if view is None:
        return {
            **out,
            V.WALK_MD: "Run a prompt or load a trace first.",
            V.WALK_PLOT: F.empty_figure("Walkthrough"),
        }
    try:
        text, fig = PAGES[page](view)
    except Exception as e:  # one broken page must not break the tab
        text, fig = f"This page could not be drawn: {esc(e, 200)}", F.error_figure("Walkthrough", str(e))
    return {**out, V.WALK_MD: text, V.WALK_PLOT: fig}
