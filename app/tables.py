"""Rows of the app's tables (Gradio Dataframes), built from a trace: top tokens, evidence, revivals."""

from __future__ import annotations

from app import stats as S
from app.markup import token_label
from app.plotting import MAX_PANELS

EVIDENCE_COLUMNS = [
    "position",
    "token",
    "prefill: pruned",
    "rank / tokens entering, at each pruning layer (1 = most attended)",
    "this step: selected through",
    "revived up to this step",
]


def top_tokens(trace, step: int, top_k: int = 8) -> list[list]:
    """Rows [layer, rank, position, token, score] of the highest-scoring tokens per pruning layer."""
    step = S.clamp_step(trace, step)
    rows = []
    for layer, sc in sorted(trace.steps[step].scores.items())[: MAX_PANELS * 4]:
        for rank, pos in enumerate(S.ranked(sc, top_k), 1):
            token = token_label(trace.tokens[pos], 30, False)
            rows.append([layer, rank, int(pos), token, float(f"{sc[pos]:.4g}")])
    return rows


def evidence_table(trace, span: S.Span, step: int = 0) -> list[list]:
    """Per span token (at most 64): where prefill pruned it, its rank against the threshold at each
    pruning layer at `step`, how deep it was selected at `step`, and where it was revived up to `step`."""
    if span is None:
        return []
    step = S.clamp_step(trace, step)
    s0, st, L = trace.steps[0], trace.steps[step], trace.num_layers
    keep = S.keep_fractions(trace)
    rows = []
    for p in range(span[0], min(span[1], s0.n))[:64]:
        d0, d = int(s0.depth[p]), int(st.depth[p])
        rev = sorted({layer for _, layer, _ in S.evidence_revivals(trace, (p, p + 1), step + 1)})
        rows.append(
            [
                p,
                token_label(trace.tokens[p], 20, False),
                "kept to the last layer" if d0 >= L else f"after layer {d0 - 1}",
                ranks_text(S.pruning_ranks(st, p, keep, MAX_PANELS * 4))[:400] or "not scored",
                "every layer" if d >= L else f"layer {d - 1} (pruned after it)",
                ", ".join(f"layer {layer}" for layer in rev) or "no",
            ]
        )
    return rows


def ranks_text(ranks: list[S.Rank]) -> str:
    """ "L6: 37/1024 kept (top 512); L12: ..." """
    return "; ".join(
        f"L{r.layer}: {r.rank}/{r.entering} {'kept' if r.survived else 'cut'} (top {r.kept})" for r in ranks
    )


def revived_tokens(trace, limit: int = 300) -> list[list]:
    """Rows [step, layer, position, token] of revivals, in order."""
    rows = []
    for t, s in enumerate(trace.steps):
        for layer, pos in sorted(s.revived.items()):
            rows += [[t, layer, int(p), token_label(trace.tokens[p], 30, False)] for p in pos]
            if len(rows) >= limit:
                return rows[:limit]
    return rows
