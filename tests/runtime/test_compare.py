"""One comparison (lazyllm/compare.py): teacher forcing, fidelity, agreement, the verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import FAMILIES, random_prompt, tiny_lm

from lazyllm import Comparison, LazyConfig, compare_runs, generate, teacher_forced
from lazyllm.compare import first_divergence, step_kl_top1, token_agreement, verdict

PRUNE = LazyConfig(schedule=((1, 0.4), (3, 0.4)))
# Two runs of our loop on the same inputs do the same float operations; the tolerance is the
# equivalence bound of the project (fp32), not a claim that the two code paths differ.
TOL = 1e-4


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_forced_logits_equal_free_running_with_pruning_off(family):
    lm = tiny_lm(family)
    prompt = random_prompt(60, seed=3)
    free = generate(lm, prompt, max_new_tokens=8, return_logits=True)
    forced = generate(lm, prompt, max_new_tokens=8, return_logits=True, forced_tokens=free.token_ids)
    assert forced.token_ids == free.token_ids
    torch.testing.assert_close(forced.logits, free.logits, atol=TOL, rtol=0)


def test_forcing_feeds_the_given_tokens_not_the_argmax():
    lm = tiny_lm("llama")
    prompt = random_prompt(50, seed=4)
    free = generate(lm, prompt, PRUNE, max_new_tokens=6, return_logits=True)
    other = [(t + 7) % 256 for t in free.token_ids]  # a different continuation from step 0 on
    forced = generate(lm, prompt, PRUNE, max_new_tokens=6, return_logits=True, forced_tokens=other)
    assert forced.token_ids == other
    torch.testing.assert_close(forced.logits[0], free.logits[0], atol=TOL, rtol=0)  # same context at step 0
    assert (forced.logits[1:] - free.logits[1:]).abs().max() > 1e-3  # then other contexts
    shorter = generate(lm, prompt, PRUNE, max_new_tokens=6, return_logits=True, forced_tokens=other[:3])
    assert len(shorter.token_ids) == 3 and shorter.logits.shape[0] == 3


@pytest.mark.parametrize(
    "forced, message",
    [
        ([], "forced_tokens is empty"),
        ([1, 2, 3, 4, 5], "forced_tokens has 5 ids, more than max_new_tokens"),
        ([300], r"forced_tokens: token ids must be in \[0, 255\]"),
        ([1, True], "forced_tokens must be a list of token ids"),
        ("abc", "forced_tokens must be a list of token ids"),
    ],
)
def test_bad_forced_tokens_name_the_field(forced, message):
    with pytest.raises(ValueError, match=message):
        generate(tiny_lm("llama"), random_prompt(20), max_new_tokens=4, forced_tokens=forced)


def test_teacher_forced_reuses_the_free_run_only_when_the_texts_agree():
    lm = tiny_lm("llama")
    prompt = random_prompt(40, seed=5)
    base = generate(lm, prompt, max_new_tokens=6, return_logits=True)
    same = generate(lm, prompt, LazyConfig(schedule=((3, 1.0),)), max_new_tokens=6, return_logits=True)
    assert teacher_forced(lm, same.config, base, same) is same
    pruned = generate(lm, prompt, LazyConfig(schedule=((0, 0.1),)), max_new_tokens=6, return_logits=True)
    assert pruned.token_ids != base.token_ids, "the test needs a pruned run that diverges"
    forced = teacher_forced(lm, pruned.config, base, pruned)
    assert forced is not pruned and forced.token_ids == base.token_ids
    assert forced.logits.shape == base.logits.shape


def test_compare_runs_baseline_against_itself_is_perfect():
    lm = tiny_lm("qwen2")
    base, free, c = compare_runs(lm, random_prompt(30, seed=6), LazyConfig.preset("baseline"), 5)
    assert c.same_text and c.first_divergence is None and c.token_agreement == 1.0
    assert c.mean_kl == pytest.approx(0.0, abs=1e-6) and c.top1_agreement == 1.0
    assert verdict(c) == "Same text as the baseline." and verdict(c, True).endswith("the answer is right.")


def test_compare_runs_pruned_is_consistent():
    lm = tiny_lm("llama")
    base, free, c = compare_runs(lm, random_prompt(80, seed=7), LazyConfig(schedule=((0, 0.1),)), 8)
    assert len(c.kl_per_step) == len(c.top1_per_step) == len(base.token_ids)
    assert all(np.isfinite(c.kl_per_step)) and min(c.kl_per_step) >= 0
    assert c.first_divergence == first_divergence(base.token_ids, free.token_ids) is not None
    assert c.top1_per_step[c.first_divergence] is False  # where the texts part, the argmaxes differ
    assert c.config["schedule"] == [[0, 0.1]] and 0 < c.compute_fraction < 1
    line = verdict(c, correct=False)
    assert (
        f"Diverged at step {c.first_divergence}" in line and "teacher-forced KL" in line and "wrong" in line
    )
    again = Comparison.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("kl_per_step"), "missing the field 'kl_per_step'"),
        (lambda d: d.update(kl_per_step=["x"]), "'kl_per_step' has the wrong type"),
        (lambda d: d.update(top1_per_step=[1]), "'top1_per_step' has the wrong type"),
        (lambda d: d.update(lazy_ttft_s=float("inf")), "'lazy_ttft_s' has the wrong type"),
        (lambda d: d.update(first_divergence="3"), "'first_divergence' has the wrong type"),
    ],
)
def test_comparison_from_json_names_the_bad_field(change, message):
    lm = tiny_lm("llama")
    _, _, c = compare_runs(lm, random_prompt(20, seed=8), PRUNE, 3)
    d = c.to_dict()
    change(d)
    with pytest.raises(ValueError, match=message):
        Comparison.from_dict(d)


def test_agreement_and_divergence_definitions():
    assert token_agreement([1, 2, 3, 4], [1, 2, 9, 4]) == 0.75
    assert token_agreement([1, 2], [1, 2, 3]) == pytest.approx(2 / 3)  # over the longer run
    assert first_divergence([1, 2, 3], [1, 5, 3]) == 1
    assert first_divergence([1, 2], [1, 2]) is None
    assert first_divergence([1, 2], [1, 2, 7]) == 2  # one run stopped


def test_kl_and_top1():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 20))
    b = a.copy()
    b[2] = rng.normal(size=20) * 3
    kl, top1 = step_kl_top1(a, b)
    assert kl[:2] == pytest.approx([0.0, 0.0], abs=1e-12) and kl[2] > 0.01
    assert top1[:2] == [True, True]
    with pytest.raises(ValueError, match="shapes differ"):
        step_kl_top1(a, b[:2])
