"""Trace: the instrumented record round-trips through JSON exactly and rejects broken files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lazyllm import LazyConfig, Trace, generate
from lazyllm.trace import round_scores
from tests.support.models import random_prompt, tiny_lm


def pruned_trace(family: str, prompt_len: int, new_tokens: int) -> Trace:
    """The trace of a pruned run (after layers 1 and 3) of a tiny model of `family`."""
    cfg = LazyConfig(schedule=((1, 0.6), (3, 0.5)))
    return generate(
        tiny_lm(family), random_prompt(prompt_len), cfg, max_new_tokens=new_tokens, instrument=True
    ).trace


@pytest.fixture(scope="module")
def trace():
    return pruned_trace("llama", 60, 8)


def assert_traces_equal(a: Trace, b: Trace):
    assert (a.num_layers, a.prompt_len, a.tokens, a.schedule) == (
        b.num_layers,
        b.prompt_len,
        b.tokens,
        b.schedule,
    )
    assert (a.strategy, a.variant, a.model) == (b.strategy, b.variant, b.model)
    assert (a.layer_types, a.sliding_window) == (b.layer_types, b.sliding_window)
    assert len(a.steps) == len(b.steps)
    for s, t in zip(a.steps, b.steps, strict=True):
        assert (s.step, s.token_id, s.seconds) == (t.step, t.token_id, t.seconds)
        for name in ("depth", "kv_len", "aux_len"):
            assert np.array_equal(getattr(s, name), getattr(t, name))
        for name in ("computed", "revived"):
            x, y = getattr(s, name), getattr(t, name)
            assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
        assert s.scores.keys() == t.scores.keys()
        for k in s.scores:
            assert np.array_equal(s.scores[k], t.scores[k], equal_nan=True)


def test_round_trip_is_exact(trace):
    again = Trace.from_json(trace.to_json())
    assert_traces_equal(trace, again)
    assert again.to_json() == trace.to_json()


@pytest.fixture(scope="module")
def gemma_trace():
    """A pruned run of a model with local and global layers (the tiny Gemma 3: window 8)."""
    return pruned_trace("gemma3", 40, 4)


def test_layer_types_round_trip(trace, gemma_trace):
    """What the app shades: local vs global layers and the window; None for an all-global model."""
    assert trace.layer_types is None and trace.sliding_window is None
    assert gemma_trace.layer_types == ["sliding", "full"] * 3 and gemma_trace.sliding_window == 8
    again = Trace.from_json(gemma_trace.to_json())
    assert_traces_equal(gemma_trace, again)
    assert again.to_json() == gemma_trace.to_json()


def test_traces_without_layer_types_still_load(gemma_trace):
    """Files written before the field existed read as all-global layers."""
    data = json.loads(gemma_trace.to_json())
    del data["layer_types"], data["sliding_window"]
    old = Trace.from_json(json.dumps(data))
    assert old.layer_types is None and old.sliding_window is None


@pytest.mark.parametrize(
    "value, message",
    [
        (dict(layer_types=["sliding"] * 5), "layer_types has 5 entries, expected 6"),
        (dict(layer_types=["local"] * 6), "layer_types must be"),
        (dict(sliding_window=0), "sliding_window must be >= 1"),
        (dict(sliding_window="8"), "sliding_window must be an integer"),
    ],
)
def test_bad_layer_types_are_named(gemma_trace, value, message):
    data = json.loads(gemma_trace.to_json())
    data.update(value)
    with pytest.raises(ValueError, match=message):
        Trace.from_json(json.dumps(data))


def test_fields_are_the_contract(trace):
    data = json.loads(trace.to_json())
    for key in ("num_layers", "prompt_len", "tokens", "schedule", "steps"):
        assert key in data
    step = data["steps"][1]
    for key in ("step", "token_id", "depth", "scores", "computed", "revived", "kv_len", "aux_len", "seconds"):
        assert key in step
    assert len(step["depth"]) == trace.prompt_len + 1
    assert len(trace.tokens) == trace.prompt_len + len(trace.steps)


def test_round_scores_is_monotone_and_short():
    x = np.array([1.234567891e-5, 0.5, 0.49999999, np.nan, 0.0, 1e-30])
    r = round_scores(x)
    assert np.isnan(r[3]) and r[4] == 0.0
    assert r[1] >= r[2] and abs(r[0] - 1.23457e-5) < 1e-12
    assert all(len(repr(float(v))) <= 12 for v in r[[0, 1, 2]])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("steps"), "missing the field 'steps'"),
        (lambda d: d["steps"][1].update(depth=d["steps"][1]["depth"][:-1]), "depth has length"),
        (lambda d: d["steps"][0].update(kv_len=[1]), "kv_len/aux_len must have"),
        (lambda d: d["steps"][0]["computed"].update({"0": [10_000]}), "positions outside"),
        (lambda d: d["steps"][0]["scores"].update({"1": [0.1]}), "scores\\[1\\] has length"),
        (lambda d: d.update(num_layers="many"), "num_layers must be an integer, got 'many'"),
        (lambda d: d.update(steps=[]), "steps is empty"),
        (lambda d: d["steps"][2].update(step=7), "expected 2"),
    ],
)
def test_schema_violations_are_named(trace, mutate, message):
    data = json.loads(trace.to_json())
    mutate(data)
    with pytest.raises(ValueError, match=message):
        Trace.from_json(json.dumps(data))


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid UTF-8"),
        (b"[1, 2, 3]", "must hold a JSON object"),
        (b" " * (21 * 1024 * 1024), "too large"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (
            b'{"num_layers": 1e400, "prompt_len": 1, "tokens": [], "schedule": [], "steps": []}',
            "must be an integer",
        ),
    ],
)
def test_malformed_files_are_rejected(blob, message):
    with pytest.raises(ValueError, match=message):
        Trace.from_json(blob)


def test_huge_numbers_are_rejected(trace):
    data = json.loads(trace.to_json())
    data["steps"][0]["depth"][0] = 10**30
    with pytest.raises(ValueError, match="depth must be a list of integers"):
        Trace.from_json(json.dumps(data))


def test_byte_order_mark_is_accepted(trace):
    assert Trace.from_json(b"\xef\xbb\xbf" + trace.to_json().encode()).prompt_len == trace.prompt_len


def test_truncated_file_is_rejected(trace):
    text = trace.to_json()
    with pytest.raises(ValueError, match="not valid JSON"):
        Trace.from_json(text[: len(text) // 2])
