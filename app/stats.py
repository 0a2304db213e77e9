"""Numbers computed from a trace: what the views draw and the texts quote, apart from drawing them.

Pure functions of a `lazyllm.Trace` (and plain arguments) returning numpy arrays, numbers or tuples;
nothing here imports plotly or Gradio. Shapes: L = layers, n = context length at the step, T = steps.

Layer numbering, the same in every view: a token "pruned after layer l" is not computed from layer
l+1 on; its hidden state waits in the Aux Cache of layer l, and a revival computes it again from
layer l+1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lazyllm.pruning import num_kept

# States of a (layer, token) cell at one step, ordered by how notable they are (max = most notable).
NOT_SELECTED, KV_REUSED, COMPUTED, REVIVED = 0, 1, 2, 3
STATE_NAMES = ("not selected", "KV reused", "computed", "revived from Aux Cache")

Span = tuple[int, int] | None  # [start, end) token positions


def clamp_step(trace, step) -> int:
    """`step` as a step index of `trace` (0 = prefill)."""
    return int(min(max(int(step or 0), 0), trace.num_steps - 1))


def clamp_span(trace, span: Span, step: int) -> Span:
    """`span` cut to the context at `step`; None when nothing of it is left."""
    if span is None:
        return None
    n = trace.prompt_len + step
    a, b = max(0, int(span[0])), min(n, int(span[1]))
    return (a, b) if b > a else None


def find_span(trace, text: str, limit: int | None = None) -> Span:
    """Token positions [a, b) covering the first occurrence of `text` in the prompt, or None."""
    from lazyllm.scan import find_span as find

    return find(trace.tokens, text, trace.prompt_len if limit is None else limit)


# --- one step -------------------------------------------------------------------------------------


def survival_states(trace, step: int) -> np.ndarray:
    """int8 [L, n]: the state of every (layer, token) cell at `step` (codes NOT_SELECTED..REVIVED)."""
    s = trace.steps[step]
    layers = np.arange(trace.num_layers)[:, None]
    states = np.where(s.depth[None, :] > layers, KV_REUSED, NOT_SELECTED).astype(np.int8)  # (L, n)
    for layer, pos in s.computed.items():
        states[layer, pos] = COMPUTED
    for layer, pos in s.revived.items():
        states[layer, pos] = REVIVED
    return states


def layer_scores(trace, step: int) -> np.ndarray:
    """float [L, n]: for each layer, the score from the latest pruning layer at or before it (NaN before)."""
    s = trace.steps[step]
    out = np.full((trace.num_layers, s.n), np.nan)
    for layer in sorted(s.scores):
        out[layer:] = s.scores[layer]
    return out


def selected_counts(trace, step: int) -> np.ndarray:
    """int [L]: tokens selected (attended) at each layer at `step`."""
    s = trace.steps[step]
    return np.array([int((s.depth > layer).sum()) for layer in range(trace.num_layers)])


def computed_counts(trace, step: int) -> list[int]:
    """[L]: tokens whose KV was computed at each layer at `step`."""
    return [len(trace.steps[step].computed.get(layer, ())) for layer in range(trace.num_layers)]


def keep_fractions(trace) -> dict[int, float]:
    """{pruning layer: keep fraction} of the trace's schedule."""
    return {int(layer): float(k) for layer, k in trace.schedule}


def kept_count(entering: int, keep: float) -> int:
    """How many of `entering` tokens a layer keeping `keep` of them keeps (the last token protected)."""
    return num_kept(entering, keep, protected=1)


def threshold(scores: np.ndarray, keep: float) -> float:
    """The percentile cut: tokens entering the layer scoring below it are pruned (§3.2)."""
    entering = scores[~np.isnan(scores)]
    if entering.size == 0:
        return float("nan")
    return float(np.sort(entering)[::-1][kept_count(entering.size, keep) - 1])


def ranked(scores: np.ndarray, top_k: int | None = None) -> np.ndarray:
    """Positions scored at a layer (not NaN), highest score first (ties: earlier position), at most top_k."""
    valid = np.flatnonzero(~np.isnan(scores))
    return valid[np.argsort(-scores[valid], kind="stable")][:top_k]


@dataclass(frozen=True)
class Rank:
    """Where one token stood at one pruning layer: its rank among the tokens entering the layer."""

    layer: int
    rank: int  # 1 = the highest score
    entering: int
    kept: int  # how many the layer kept (top k)

    @property
    def survived(self) -> bool:
        return self.rank <= self.kept


def pruning_ranks(s, p: int, keep: dict[int, float], max_layers: int | None = None) -> list[Rank]:
    """Token p's rank at each pruning layer of step `s` it entered (the first `max_layers` layers)."""
    out = []
    for layer, sc in sorted(s.scores.items())[:max_layers]:
        if np.isnan(sc[p]):
            continue
        entering = int((~np.isnan(sc)).sum())
        rank = int((sc > sc[p]).sum()) + 1
        out.append(Rank(layer, rank, entering, kept_count(entering, keep.get(layer, 1.0))))
    return out


def token_values(trace, step: int, mode: str) -> np.ndarray:
    """float [n] in [0, 1] used to shade tokens: survival depth / L, or log-scaled importance."""
    s = trace.steps[step]
    if mode == "depth" or not s.scores:
        return s.depth / trace.num_layers
    first = s.scores[min(s.scores)]
    logs = np.log10(np.clip(np.nan_to_num(first, nan=0.0), 1e-9, None))
    lo, hi = np.percentile(logs, 5), logs.max()
    return (logs - lo) / (hi - lo) if hi > lo else np.zeros_like(logs)


# --- a span across steps --------------------------------------------------------------------------


def evidence_grid(trace, span: tuple[int, int]) -> np.ndarray:
    """float [L, T]: fraction of the span's tokens selected at each layer and step."""
    a, b = span
    grid = np.zeros((trace.num_layers, trace.num_steps))
    layers = np.arange(trace.num_layers)[:, None]
    for t, s in enumerate(trace.steps):
        d = s.depth[a : min(b, s.n)]
        if d.size:
            grid[:, t] = (d[None, :] > layers).mean(axis=1)
    return grid


def evidence_revivals(trace, span: tuple[int, int], before: int | None = None) -> list[tuple[int, int, int]]:
    """(step, layer, position) of every revival of a span token (at steps < `before` if given)."""
    a, b = span
    out = []
    for t, s in enumerate(trace.steps[:before]):
        for layer, pos in sorted(s.revived.items()):
            out += [(t, layer, int(p)) for p in pos if a <= p < b]
    return out


# --- the whole generation -------------------------------------------------------------------------


def revivals_grid(trace) -> np.ndarray:
    """int [L, T]: tokens revived from the Aux Cache at each layer and step."""
    grid = np.zeros((trace.num_layers, trace.num_steps), dtype=np.int64)
    for t, s in enumerate(trace.steps):
        for layer, pos in s.revived.items():
            grid[layer, t] = len(pos)
    return grid


def revived_per_step(trace) -> list[int]:
    """Token-layers computed for revived tokens at each step (the work a decode step takes back): a
    revived token counts once per layer computed for it, from the layer it re-entered at (0 at prefill,
    which revives nothing): the step's computations beyond its new token at every layer."""
    return [
        0 if s.step == 0 else max(int(x), 0)
        for s, x in zip(trace.steps, trace.extra_token_layers(), strict=True)
    ]


def revivals_per_step(trace) -> list[int]:
    """Revivals at each step: each revived token counted once, at the layer it re-entered."""
    return [int(sum(len(v) for v in s.revived.values())) for s in trace.steps]


def first_revival(trace) -> tuple[int, int, int] | None:
    """(step, layer, position) of the most important token revived at the first step with revivals
    (its score at the pruning layer before the revival; -1 when not scored there)."""
    for t, s in enumerate(trace.steps):
        revivals = [(layer, int(p)) for layer, pos in sorted(s.revived.items()) for p in pos]
        if revivals:

            def score(r, s=s):
                sc = s.scores.get(r[0] - 1)
                return -1.0 if sc is None or np.isnan(sc[r[1]]) else float(sc[r[1]])

            layer, pos = max(revivals, key=score)
            return t, layer, pos
    return None


def cache_lengths(trace) -> tuple[np.ndarray, np.ndarray]:
    """(KV cache, Aux Cache) lengths, each int [L, T]: per layer after each step, in tokens."""
    kv = np.stack([s.kv_len for s in trace.steps], axis=1)
    aux = np.stack([s.aux_len for s in trace.steps], axis=1)
    return kv, aux


def cumulative_compute_share(trace) -> np.ndarray:
    """float [T]: prompt-token computations up to each step / the baseline's (L x prompt tokens)."""
    return trace.cumulative_prompt_computations() / (trace.num_layers * trace.prompt_len)


def prefill_compute_share(trace) -> float:
    """Prompt-token computations at prefill (the work in the TTFT) / the baseline's (L x prompt tokens)."""
    return float(cumulative_compute_share(trace)[0])


def max_computations_per_cell(trace) -> int:
    """The most times any (token, layer) was computed over the generation (at most once: 1)."""
    seen = [np.zeros(trace.prompt_len + trace.num_steps, dtype=np.int64) for _ in range(trace.num_layers)]
    for s in trace.steps:
        for layer, pos in s.computed.items():
            np.add.at(seen[layer], pos, 1)
    return int(max((c.max() for c in seen), default=0))


# --- the baseline's attention at the split --------------------------------------------------------


@dataclass(frozen=True)
class SplitToken:
    """One prompt token the baseline's last token attended to most at the divergence step, and what the
    pruned run did with it on the same context (the runs share every token before that step)."""

    position: int
    attention: np.ndarray  # float [L]: the baseline's attention (head mean) on it at each layer
    rank: np.ndarray  # int [L]: 1 = the most attended of the step's `context` tokens at that layer
    selected: np.ndarray  # bool [L]: selected (attended) by the pruned run at that layer at the step
    prefill_depth: int  # layers it was selected in at prefill (L: never pruned at prefill)
    revived: tuple[tuple[int, int], ...]  # (step, layer) of its revivals up to the step

    @property
    def dropped_after(self) -> int | None:
        """The layer after which the pruned run stopped selecting it at the step (None: every layer)."""
        off = np.flatnonzero(~self.selected)
        return None if off.size == 0 else int(off[0]) - 1


@dataclass(frozen=True)
class Split:
    """The baseline's attention at the first divergence step `step`, against the pruned run's choices."""

    step: int
    context: int  # tokens the step's last token could attend to: the prompt and `step` generated tokens
    tokens: list[SplitToken]  # the top prompt tokens, most attended first (mean over layers)
    missed: np.ndarray  # float [L]: share of the baseline's attention on tokens the pruned run left out


def baseline_attention(comparison) -> np.ndarray | None:
    """float [L, n] the comparison's baseline attention at the split (Comparison.baseline_attention)."""
    if comparison is None or comparison.baseline_attention is None:
        return None
    return np.asarray(comparison.baseline_attention, dtype=np.float64)


def attention_ranks(attention: np.ndarray) -> np.ndarray:
    """int [L, n]: each token's rank at each layer, 1 = the most attended (ties: the earlier first)."""
    order = np.argsort(-attention, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, attention.shape[1] + 1)[None, :], axis=1)
    return ranks


def split_evidence(trace, comparison, top_k: int = 8) -> Split | None:
    """The Split of a comparison whose texts diverge, or None (same text, no recorded attention, or a
    trace that does not reach the step). Raises ValueError when the attention does not fit the trace."""
    a = baseline_attention(comparison)
    t = comparison.first_divergence if comparison is not None else None
    if a is None or t is None or t >= trace.num_steps:
        return None
    L, n = a.shape
    if L != trace.num_layers or n != trace.prompt_len + t:
        raise ValueError(f"baseline_attention: shape {a.shape} does not fit step {t} of this trace")
    s = trace.steps[t]
    ranks = attention_ranks(a)
    prompt = a[:, : trace.prompt_len]
    top = ranked(prompt.mean(axis=0), top_k)
    layers = np.arange(L)
    selected = s.depth[None, :] > layers[:, None]  # (L, n)
    tokens = [
        SplitToken(
            position=int(p),
            attention=a[:, p],
            rank=ranks[:, p],
            selected=selected[:, p],
            prefill_depth=int(trace.steps[0].depth[p]),
            revived=tuple(
                (st, layer) for st, layer, _ in evidence_revivals(trace, (int(p), int(p) + 1), t + 1)
            ),
        )
        for p in top
    ]
    missed = (a * ~selected).sum(axis=1) / np.maximum(a.sum(axis=1), 1e-30)
    return Split(t, n, tokens, missed)
