"""One comparison (lazyllm/compare.py): teacher forcing, fidelity, agreement, the verdict."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest
import torch

from lazyllm import Comparison, LazyConfig, compare_runs, generate, load_model, teacher_forced
from lazyllm.compare import first_divergence, split_attention, step_kl_top1, token_agreement, verdict
from tests.support.models import FAMILIES, random_prompt, tiny_hf_model, tiny_lm

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


# Forking: a teacher-forced run that starts from the free run where their tokens part. Configs that
# exercise every piece of state a step changes: revivals (lazy), a frozen ranking (static), a generator
# (random), and the scorer's queries kept across steps (window > 1, with pooling and sinks).
FORK_CONFIGS = {
    "lazy": LazyConfig(schedule=((0, 0.3), (2, 0.5), (4, 0.5))),
    "static": LazyConfig(schedule=((1, 0.4), (3, 0.5)), strategy="static"),
    "random": LazyConfig(schedule=((1, 0.4), (3, 0.5)), strategy="random"),
    "window": LazyConfig(schedule=((1, 0.3), (3, 0.5)), window=4, pool=3, sinks=2),
}


def _state(result) -> tuple:
    """The caches a run leaves (it was run forkable, so its runner is kept): every layer's KV entries,
    and the Aux Cache's entries."""
    r = result.fork.runner
    kv = [(c.len, c.positions().tolist(), c.k[:, :, : c.len].clone()) for c in r.kv]
    return kv, r.aux.layer.clone(), r.n, r.step_index


@pytest.mark.parametrize("name", sorted(FORK_CONFIGS))
@pytest.mark.parametrize("part", [0, 3, 9])
def test_a_forced_run_forked_from_the_free_run_equals_a_fresh_forced_run(name, part):
    """The forced tokens part from the free run's at step `part` (0: at the first token; 9: the last):
    the forked run reuses steps 0..part and runs the rest from that step's checkpoint; its logits,
    counters and caches equal those of a forced run from scratch. Tolerance: both runs do the same
    float operations on the same shapes; TOL is the project's fp32 bound, not a difference expected."""
    lm, cfg = tiny_lm("llama"), FORK_CONFIGS[name]
    prompt = random_prompt(70, seed=11)
    free = generate(lm, prompt, cfg, max_new_tokens=10, return_logits=True, forkable=True, seed=3)
    assert len(free.token_ids) == 10
    forced_ids = list(free.token_ids)
    forced_ids[part] = (forced_ids[part] + 1) % 256
    forced_ids[part + 1 :] = [(t * 7 + 5) % 256 for t in forced_ids[part + 1 :]]  # another continuation
    fresh = generate(
        lm,
        prompt,
        cfg,
        max_new_tokens=10,
        return_logits=True,
        forced_tokens=forced_ids,
        seed=3,
        forkable=True,
    )
    forked = generate(
        lm, prompt, cfg, max_new_tokens=10, return_logits=True, forced_tokens=forced_ids, seed=3, fork_from=free, forkable=True
    )  # fmt: skip
    assert free.fork is None, "a fork is used once"
    assert forked.token_ids == fresh.token_ids == forced_ids
    torch.testing.assert_close(forked.logits, fresh.logits, atol=TOL, rtol=0)
    assert forked.stats == fresh.stats
    (kv_a, aux_a, n_a, step_a), (kv_b, aux_b, n_b, step_b) = _state(forked), _state(fresh)
    assert (n_a, step_a) == (n_b, step_b) == (70 + 9, 9)
    assert [(n, pos) for n, pos, _ in kv_a] == [(n, pos) for n, pos, _ in kv_b]
    for (_, _, k_a), (_, _, k_b) in zip(kv_a, kv_b, strict=True):
        torch.testing.assert_close(k_a, k_b, atol=TOL, rtol=0)
    assert torch.equal(aux_a, aux_b)  # integer layer ids: which tokens wait in which Aux Cache
    assert sum(s > 0 for s in forked.timings.step_s) == 9 - part, "only the steps after the part run"


def test_a_forced_run_that_agrees_to_the_end_needs_no_step_of_its_own():
    lm = tiny_lm("llama")
    prompt = random_prompt(40, seed=12)
    free = generate(lm, prompt, PRUNE, max_new_tokens=5, return_logits=True, forkable=True)
    shorter = generate(
        lm, prompt, PRUNE, max_new_tokens=5, return_logits=True, forced_tokens=free.token_ids[:3], fork_from=free
    )  # fmt: skip
    assert shorter.token_ids == free.token_ids[:3] and shorter.timings.step_s == [0.0, 0.0, 0.0]
    torch.testing.assert_close(shorter.logits, free.logits[:3], atol=0, rtol=0)  # the same tensors, reused


def test_teacher_forced_starts_from_the_free_runs_fork_and_frees_it():
    lm = tiny_lm("llama")
    prompt = random_prompt(60, seed=5)
    cfg = LazyConfig(schedule=((0, 0.1),))
    base = generate(lm, prompt, max_new_tokens=8, return_logits=True)
    free = generate(lm, prompt, cfg, max_new_tokens=8, return_logits=True, forkable=True)
    part = first_divergence(base.token_ids, free.token_ids)
    assert part is not None, "the test needs a pruned run that diverges"
    fresh = teacher_forced(lm, cfg, base, None)
    forced = teacher_forced(lm, cfg, base, free)
    assert free.fork is None and forced.token_ids == base.token_ids
    torch.testing.assert_close(forced.logits, fresh.logits, atol=TOL, rtol=0)
    assert forced.timings.step_s[: part + 1] == [0.0] * (part + 1)  # reused, not run again
    same = generate(lm, prompt, max_new_tokens=8, return_logits=True, forkable=True)
    assert same.fork is not None and teacher_forced(lm, same.config, base, same) is same
    assert same.fork is None, "the caches of a fork that is not needed are freed"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(), "only a teacher-forced run"),
        (dict(forced_tokens=[1, 2]), None),  # valid: the fork is used here, and refused the second time
        (dict(forced_tokens=[1, 2], config=PRUNE), "another prompt, config or seed"),
        (dict(forced_tokens=[1, 2], seed=1), "another prompt, config or seed"),
        (dict(forced_tokens=[1, 2], prompt=random_prompt(31, seed=9)), "another prompt, config or seed"),
        (dict(forced_tokens=[1, 2], instrument=True), "neither instrumented nor scanned"),
        (dict(forced_tokens=[1, 2, 3, 4, 5], max_new_tokens=6), "longer than that run's max_new_tokens"),
    ],
)
def test_bad_forks_name_the_field(kwargs, message):
    lm = tiny_lm("llama")
    prompt = random_prompt(30, seed=9)
    free = generate(
        lm, prompt, LazyConfig(schedule=((1, 0.5),)), max_new_tokens=4, return_logits=True, forkable=True
    )
    args = dict(prompt=prompt, config=LazyConfig(schedule=((1, 0.5),)), max_new_tokens=4, return_logits=True)
    args.update(kwargs)
    if message is None:
        generate(lm, fork_from=free, **args)
        message = "not open"
    with pytest.raises(ValueError, match=message):
        generate(lm, fork_from=free, **args)
    with pytest.raises(ValueError, match="forkable: .* needs return_logits"):
        generate(lm, prompt, max_new_tokens=2, forkable=True)


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
        (lambda d: d.update(baseline_attention=[[0.5], [0.1, 0.2]]), "'baseline_attention' has the wrong"),
        (lambda d: d.update(baseline_attention=[[float("nan")]]), "'baseline_attention' has the wrong"),
        (lambda d: d.update(baseline_attention=[]), "'baseline_attention' has the wrong type"),
    ],
)
def test_comparison_from_json_names_the_bad_field(change, message):
    lm = tiny_lm("llama")
    _, _, c = compare_runs(lm, random_prompt(20, seed=8), PRUNE, 3)
    d = c.to_dict()
    change(d)
    with pytest.raises(ValueError, match=message):
        Comparison.from_dict(d)


def test_the_baseline_attention_at_the_split_is_the_reference_models_at_that_step():
    """An instrumented comparison whose texts part at step t records the baseline's last-token attention
    at step t over the prompt and the t shared tokens: transformers' eager attention (head mean) of the
    reference model on that context, at every layer, within 1e-4 (fp32)."""
    model = tiny_hf_model("llama", layers=6, seed=2)
    lm = load_model(model, tokenizer=None)
    prompt = random_prompt(60, seed=10)
    base, free, c = compare_runs(lm, prompt, LazyConfig(schedule=((1, 0.3),)), 8, instrument=True)
    t = c.first_divergence
    assert t is not None and 0 < t < len(base.token_ids), "the fixture must diverge after prefill"
    context = prompt + base.token_ids[:t]  # what both runs had at step t
    model.set_attn_implementation("eager")
    with torch.no_grad():
        out = model(torch.tensor([context]), output_attentions=True)
    model.set_attn_implementation("sdpa")
    want = np.stack([a[0, :, -1, :].mean(0).numpy() for a in out.attentions])  # (L, n): Eq. 1 per layer
    got = np.asarray(c.baseline_attention)
    assert got.shape == want.shape == (6, len(prompt) + t)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    again = Comparison.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again.baseline_attention == c.baseline_attention


def test_the_split_attention_is_recorded_only_where_it_means_something():
    lm = tiny_lm("llama")
    prompt = random_prompt(40, seed=13)
    _, _, plain = compare_runs(lm, prompt, LazyConfig(schedule=((0, 0.2),)), 6)  # not instrumented
    _, _, same = compare_runs(lm, prompt, LazyConfig.preset("baseline"), 4, instrument=True)
    assert plain.first_divergence is not None and plain.baseline_attention is None
    assert same.same_text and same.baseline_attention is None
    base = generate(lm, prompt, max_new_tokens=3, scan=True)
    assert split_attention(lm, base, 0) is base.scan  # at prefill: the baseline's own scan
    assert split_attention(lm, base, 3) is None  # a step the baseline did not take
    one = split_attention(lm, base, 2)  # not forkable: one prefill of the prompt and 2 tokens
    assert one.shape == (lm.num_layers, 42) and np.allclose(one.sum(axis=1), 1.0, atol=1e-4)
    kept = generate(lm, prompt, max_new_tokens=3, return_logits=True, forkable=True)
    again = split_attention(lm, kept, 2)  # forkable: its step 2 run again from its checkpoint
    assert kept.fork is None  # used up
    np.testing.assert_allclose(again, one, atol=1e-5, rtol=0)


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


def _drain(updates):
    """(every CompareUpdate before the last, the last)."""
    seen = list(updates)
    return seen[:-1], seen[-1]


def test_compare_stream_runs_the_sequence_once_and_frees_the_fork():
    """Pruned run, baseline, forced twin, in that order, a CompareUpdate per step; the result is the
    Comparison compare_results makes of the same runs; the pruned run's fork is freed."""
    from lazyllm.compare import compare_results, compare_stream

    lm = tiny_lm("llama")
    prompt = random_prompt(80, seed=7)
    cfg = LazyConfig(schedule=((0, 0.1),))
    seen, last = _drain(compare_stream(lm, prompt, cfg, max_new_tokens=8, instrument=True, scan=True))
    base, free, c = last.result
    assert last.done and c.first_divergence is not None  # diverged: a forced twin ran
    runs = [u.run for u in seen]
    assert runs == sorted(runs, key=["LazyLLM", "baseline", "teacher-forced"].index)  # the order
    assert runs.count("LazyLLM") == len(free.token_ids) and runs.count("baseline") == len(base.token_ids)
    forced_steps = [u.update for u in seen if u.run == "teacher-forced"]
    reused = [u for u in forced_steps if u.seconds == 0.0]  # taken from the fork: the prefill at least
    assert len(forced_steps) == len(base.token_ids) and 1 <= len(reused) <= c.first_divergence + 1
    assert free.fork is None and free.trace is not None and base.scan is not None
    forced = teacher_forced(lm, cfg, base, free)  # a fresh forced run (no fork left)
    assert c.kl_per_step == pytest.approx(compare_results(lm, base, free, forced).kl_per_step, abs=1e-6)


def test_compare_stream_stopped_returns_none_and_frees_the_fork(monkeypatch):
    """should_stop ends the sequence: the final update's result is None, and the fork the pruned run
    held is freed (also when the consumer abandons the generator)."""
    import sys

    from lazyllm.compare import compare_stream

    gen_module = sys.modules["lazyllm.generate"]  # the module (the package's `generate` is the function)

    lm = tiny_lm("llama")
    prompt = random_prompt(40, seed=2)
    forks, real = [], gen_module._result

    def result(p, *a):
        r = real(p, *a)
        forks.append(r)
        return r

    monkeypatch.setattr(gen_module, "_result", result)
    calls = []
    stop = lambda: calls.append(1) or len(calls) > 8  # noqa: E731 (stops in the baseline run)
    seen, last = _drain(compare_stream(lm, prompt, PRUNE, max_new_tokens=6, should_stop=stop))
    assert last.done and last.result is None and {u.run for u in seen} == {"LazyLLM", "baseline"}
    assert last.pruned is not None and len(last.pruned.token_ids) == 6  # the pruned run had ended
    early = list(
        compare_stream(lm, prompt, PRUNE, max_new_tokens=6, instrument=True, should_stop=lambda: True)
    )
    assert early[-1].pruned.stopped == "cancelled" and early[-1].pruned.trace.num_steps == 1  # after prefill
    assert all(r.fork is None for r in forks)
    abandoned = compare_stream(lm, prompt, PRUNE, max_new_tokens=6)
    next(u for u in abandoned if u.run == "baseline")  # the pruned run is done and open
    abandoned.close()
    assert all(r.fork is None for r in forks)


def test_timings_leave_instrumentation_out(monkeypatch):
    """The trace's recording is timed apart: a recorder made slow (0.1 s a step) shows in
    instrument_s, not in the steps' seconds (the tiny model's steps take milliseconds)."""
    from lazyllm import runtime

    real = runtime._StepRecorder.finish

    def slow(self, *a):
        time.sleep(0.1)
        return real(self, *a)

    monkeypatch.setattr(runtime._StepRecorder, "finish", slow)
    lm = tiny_lm("llama")
    res = generate(
        lm,
        random_prompt(40, seed=1),
        PRUNE,
        max_new_tokens=4,
        instrument=True,
        forkable=True,
        return_logits=True,
    )
    assert res.timings.instrument_s >= 0.4
    assert max(res.timings.step_s) < 0.09, res.timings.step_s
    assert [s.seconds for s in res.trace.steps] == res.timings.step_s
    assert res.timings.total_s == pytest.approx(sum(res.timings.step_s))
    plain = generate(lm, random_prompt(40, seed=1), PRUNE, max_new_tokens=4)
    assert plain.timings.instrument_s == 0.0


def test_generation_speedup_compares_the_same_steps():
    """Whole generation: the steps both runs took (never 8 against 9), and the decode step ratio."""
    lm = tiny_lm("llama")
    _, _, c = compare_runs(lm, random_prompt(20, seed=8), PRUNE, 3)
    c = dataclasses.replace(c, baseline_step_s=[2.0, 1.0, 1.0, 1.0], lazy_step_s=[1.0, 2.0, 2.0])
    assert c.timed_steps == 3
    assert c.generation_speedup == pytest.approx(4.0 / 5.0)  # 2 + 1 + 1 against 1 + 2 + 2
    assert c.decode_step_ratio == pytest.approx(2.0)
    d = c.to_dict()
    assert d["timed_steps"] == 3 and "back to back" in d["timing"]
    assert Comparison.from_dict(json.loads(json.dumps(d))) == c


def test_generate_takes_its_options_by_keyword_and_documents_each():
    import inspect

    from lazyllm import generate_stream

    lm = tiny_lm("llama")
    with pytest.raises(TypeError):
        generate(lm, random_prompt(10, seed=1), None, 4)  # max_new_tokens is keyword-only
    for fn in (generate_stream,):
        params = inspect.signature(fn).parameters
        assert not [p for p in params if p.startswith("_")]
        undocumented = [p for p in list(params)[3:] if f"{p}:" not in fn.__doc__]
        assert not undocumented, undocumented
    assert inspect.signature(generate).parameters == inspect.signature(generate_stream).parameters
    with pytest.raises(TypeError, match="max_new_token"):
        generate(lm, random_prompt(10, seed=1), max_new_token=4)  # a misspelt option is named
