"""The prefill's progress hook (generate(..., on_prefill_layer=...)): once per layer of the prefill, in
order, with the right counts; never at a decode step; and it changes no logit, token or trace."""

from __future__ import annotations

import time

import pytest
import torch

from lazyllm import LazyConfig, generate
from lazyllm.compare import compare_stream
from tests.support.models import random_prompt, tiny_lm

SCHEDULE = [(1, 0.5), (3, 0.5)]


@pytest.mark.parametrize("strategy", [None, "lazy", "random"])
def test_the_hook_is_called_once_per_prefill_layer_and_changes_no_result(strategy):
    lm = tiny_lm("llama", layers=6, seed=3)
    cfg = None if strategy is None else LazyConfig(schedule=SCHEDULE, strategy=strategy)
    prompt = random_prompt(40, seed=5)
    calls = []
    hooked = generate(lm, prompt, cfg, max_new_tokens=4, return_logits=True, instrument=True,
                      on_prefill_layer=lambda done, total: calls.append((done, total)))  # fmt: skip
    plain = generate(lm, prompt, cfg, max_new_tokens=4, return_logits=True, instrument=True)
    assert calls == [(i, 6) for i in range(1, 7)]  # the prefill only: 4 steps, 6 calls
    assert hooked.token_ids == plain.token_ids
    torch.testing.assert_close(hooked.logits, plain.logits, rtol=0, atol=0)
    for a, b in zip(hooked.trace.steps, plain.trace.steps, strict=True):  # the same trace but its seconds
        assert a.token_id == b.token_id and (a.depth == b.depth).all()
        assert sorted(a.computed) == sorted(b.computed)
        assert all((a.computed[k] == b.computed[k]).all() for k in a.computed)
        assert (a.kv_len == b.kv_len).all() and (a.aux_len == b.aux_len).all()


def test_the_hooks_time_is_left_out_of_the_prefill():
    lm = tiny_lm("llama", layers=6, seed=3)
    prompt = random_prompt(40, seed=5)
    res = generate(lm, prompt, max_new_tokens=1, on_prefill_layer=lambda done, total: time.sleep(0.05))
    assert res.timings.ttft_s < 0.25, res.timings  # 6 x 50 ms of hook, left out
    assert res.timings.instrument_s >= 0.29


def test_compare_stream_reports_the_pruned_prefill_then_the_baselines():
    lm = tiny_lm("llama", layers=6, seed=3)
    calls = []
    updates = compare_stream(lm, random_prompt(30, seed=2), LazyConfig(schedule=SCHEDULE), max_new_tokens=3,
                             on_prefill_layer=lambda done, total: calls.append(done))  # fmt: skip
    assert [u for u in updates if u.done][0].result is not None
    assert calls == [1, 2, 3, 4, 5, 6] * 2  # the pruned run, then the baseline; the forced twin forks
