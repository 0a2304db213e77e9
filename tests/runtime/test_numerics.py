"""Numerics (issue 5.5): half precision, very long prompts, ties, and odd text through the tokenizer.

Importance scores are attention probabilities from the last token, averaged over heads (DESIGN §1):
over the tokens selected at a layer they are finite, non-negative and sum to 1, whatever the dtype
or the prompt length. Ties are broken towards the earlier position, so identical runs are identical.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lazyllm import LazyConfig, encode_prompt, generate, load_model
from lazyllm.pruning import importance, num_kept, select_top, top_k
from tests.support.models import random_prompt, tiny_hf_model

SCHEDULE = ((1, 0.5), (3, 0.5))


def check_trace_numerics(trace, schedule, atol=1e-3):
    """Scores finite and summing to 1 over the selected tokens; kept counts as the schedule says."""
    keep = dict(schedule)
    for s in trace.steps:
        assert s.depth[-1] == trace.num_layers, f"step {s.step}: the last token was pruned"
        for layer, row in s.scores.items():
            sel = s.selected(layer)
            vals = row[sel]
            assert np.isfinite(vals).all(), f"step {s.step} layer {layer}: non-finite scores"
            assert np.isnan(np.delete(row, sel)).all()  # NaN exactly where not selected
            assert (vals >= 0).all() and (vals > 0).any()
            assert vals.sum() == pytest.approx(1.0, abs=atol), f"step {s.step} layer {layer}"
            kept = s.selected(layer + 1).shape[0]
            assert kept == num_kept(sel.shape[0], keep[layer], 1)  # the top-k percentile, k rounded up
            assert -1e-6 < kept - keep[layer] * sel.shape[0] < 1 + 1e-6


@pytest.mark.parametrize(
    "family, dtype", [("llama", "bfloat16"), ("llama", "float16"), ("qwen3", "bfloat16")]
)
def test_half_precision_gives_finite_scores_and_sensible_pruning(family, dtype):
    cfg = LazyConfig(schedule=SCHEDULE)
    prompt = random_prompt(100, seed=1)
    ref = generate(load_model(tiny_hf_model(family, 6)), prompt, cfg, max_new_tokens=4, instrument=True)
    lm = load_model(tiny_hf_model(family, 6), dtype=dtype)  # the same weights, cast
    assert lm.dtype == getattr(torch, dtype)
    res = generate(lm, prompt, cfg, max_new_tokens=4, instrument=True)
    check_trace_numerics(res.trace, SCHEDULE)
    for layer, _ in SCHEDULE:  # prefill: mostly the same tokens survive as in fp32
        a, b = set(ref.trace.steps[0].selected(layer + 1)), set(res.trace.steps[0].selected(layer + 1))
        assert len(a & b) / len(a) >= 0.85, f"{dtype} layer {layer}: kept set far from fp32's"
    assert res.token_ids[0] == ref.token_ids[0]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_long_prompt_scores_do_not_underflow(dtype):
    """~4000 tokens: each score is ~1/4000, and none underflows to zero (scores are fp32 softmax)."""
    schedule = ((1, 0.5), (2, 0.5))
    lm = load_model(tiny_hf_model("llama", 4, max_position_embeddings=8192), dtype=dtype)
    res = generate(
        lm, random_prompt(4000, seed=2), LazyConfig(schedule=schedule), max_new_tokens=2, instrument=True
    )
    check_trace_numerics(res.trace, schedule)
    for s in res.trace.steps:
        for layer, row in s.scores.items():
            vals = row[s.selected(layer)]
            assert vals.min() > 0, f"step {s.step} layer {layer}: a selected token scored exactly 0"
            assert vals.max() < 0.5  # random weights: attention spread out, not collapsed on one token
    assert res.trace.steps[0].selected(3).shape[0] == 1000  # 4000 -> 2000 -> 1000


def test_importance_is_fp32_softmax_even_from_extreme_half_logits():
    """Keys and queries in bf16 with huge logits: probabilities stay finite and sum to 1."""
    g = torch.Generator().manual_seed(0)
    q = (torch.randn(1, 4, 1, 16, generator=g) * 300).bfloat16()
    k = (torch.randn(1, 2, 5000, 16, generator=g) * 300).bfloat16()
    pos = torch.arange(5000)
    p = importance(q, pos[-1:], k, pos, 16**-0.5)
    assert p.dtype == torch.float32 and torch.isfinite(p).all()
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)


def test_ties_keep_the_earliest_positions():
    protect = torch.zeros(10, dtype=torch.bool)
    protect[-1] = True  # the last token
    assert select_top(torch.zeros(10), protect, 0.5).tolist() == [0, 1, 2, 3, 9]
    scores = torch.tensor([0.1, 0.3, 0.2, 0.3, 0.1, 0.3, 0.2, 0.1, 0.3, 0.0])
    assert select_top(scores, protect, 0.5).tolist() == [1, 3, 5, 8, 9]  # 4 tied at 0.3, then the last
    assert select_top(scores, protect, 0.6).tolist() == [1, 2, 3, 5, 8, 9]  # 0.2 tie: position 2 before 6
    big = torch.full((5000,), 0.25)
    assert top_k(big, 1234).tolist() == list(range(1234))
    assert top_k(big.flip(0), 7).tolist() == list(range(7))


def test_uniform_attention_in_a_real_run_keeps_the_earliest_tokens():
    """With layer 1's q_proj zeroed, every token scores exactly 1/n there: a full tie at every step."""
    model = tiny_hf_model("llama", 6)
    with torch.no_grad():
        model.model.layers[1].self_attn.q_proj.weight.zero_()
    res = generate(
        load_model(model),
        random_prompt(50, seed=3),
        LazyConfig(schedule=SCHEDULE),
        max_new_tokens=3,
        instrument=True,
    )
    for s in res.trace.steps:
        n, kept = s.n, s.selected(2)
        row = s.scores[1]
        assert np.unique(row).shape[0] == 1 and row[0] == pytest.approx(1 / n, rel=1e-5)
        k = math.ceil(0.5 * n)
        assert kept.tolist() == [*range(k - 1), n - 1], f"step {s.step}"


@pytest.mark.parametrize("strategy", ["lazy", "random"])
def test_identical_runs_give_identical_traces(strategy):
    lm = load_model(tiny_hf_model("qwen2", 6))
    cfg = LazyConfig(schedule=SCHEDULE, strategy=strategy)
    runs = [
        generate(lm, random_prompt(80, seed=4), cfg, max_new_tokens=4, instrument=True, seed=7)
        for _ in range(2)
    ]
    a, b = (r.trace.to_dict() for r in runs)
    for d in (a, b):
        for s in d["steps"]:
            s.pop("seconds")
    assert a == b


ODD_TEXTS = {
    "control": "a\x00b\x07\x1b[31mc\r\n\x7f\u0085\t end",
    "rtl": "ما هو لون السماء؟ \u202eabc\u202c שָׁלוֹם עולם",
    "emoji": "🌤️👨\u200d👩\u200d👧\u200d👦🏳️\u200d🌈 what?",
    "zero-width": "\ufeff\u200b\u200d zero width",
}


def test_odd_text_round_trips_through_the_tokenizer(embedded_lm):
    for name, text in ODD_TEXTS.items():
        ids = encode_prompt(embedded_lm, text, chat=False)
        assert all(0 <= i < embedded_lm.config.vocab_size for i in ids), name
        assert embedded_lm.tokenizer.decode(ids, skip_special_tokens=True) == text, name  # nothing lost
        assert text in embedded_lm.tokenizer.decode(encode_prompt(embedded_lm, text)), name  # chat template


def test_odd_text_generates_with_a_valid_trace(embedded_lm):
    prompt = " ".join(ODD_TEXTS.values())
    res = generate(embedded_lm, prompt, LazyConfig.preset("default"), max_new_tokens=2, instrument=True)
    sched = res.config.schedule
    assert res.trace.prompt_len == len(encode_prompt(embedded_lm, prompt)) == len(res.prompt_ids)
    assert len(res.trace.tokens) == res.trace.prompt_len + len(res.token_ids)
    assert isinstance(res.text, str) and len(res.token_ids) >= 1
    check_trace_numerics(res.trace, sched)


def test_100k_characters_is_a_clear_context_error(embedded_lm):
    with pytest.raises(ValueError, match=r"prompt too long: \d+ prompt tokens .* context of 8192 tokens"):
        generate(embedded_lm, "x" * 100_000, max_new_tokens=2)
    with pytest.raises(ValueError, match="context of 8192"):
        generate(embedded_lm, "🌈" * 100_000, max_new_tokens=2)


def test_invalid_unicode_text_is_a_clear_error(embedded_lm):
    """A lone surrogate (what invalid UTF-16 from a browser decodes to) must be a ValueError, not a
    TypeError from the tokenizer."""
    with pytest.raises(ValueError, match="prompt"):
        encode_prompt(embedded_lm, "hello \ud800 world")
