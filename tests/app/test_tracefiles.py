"""Trace files: export and load back, budgets checked before any figure, bad files refused by name."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from app.state import Example, RunView
from app.tracefiles import (
    EXPORT_BYTES,
    Budget,
    export_text,
    export_trace,
    gradio_cache_dir,
    inspect_trace,
    load_trace_file,
    prune_exports,
)
from lazyllm.trace import MAX_TRACE_BYTES
from tests.support.doubles import synthetic_comparison, synthetic_trace, wide_trace

EXAMPLE = Example("Pass-key retrieval", "passkey", "prompt text", "71432", "pass key is 71432", "number")


def write(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return str(path)


def test_export_loads_back_whole(tmp_path):
    trace = synthetic_trace()
    scan = np.random.default_rng(0).random((trace.num_layers, trace.prompt_len))
    view = RunView(trace, "run", synthetic_comparison(), EXAMPLE, "71432", scan, answer_kind="number")
    path = export_trace(view, tmp_path)
    loaded = load_trace_file(path, examples={EXAMPLE.name: EXAMPLE})
    assert loaded.trace.to_json() == trace.to_json() and loaded.comparison == view.comparison
    assert loaded.example == EXAMPLE and loaded.expected == "71432" and loaded.notes == ()
    np.testing.assert_allclose(loaded.scan, scan, atol=1e-7)
    bare = write(tmp_path, "bare.json", trace.to_json().encode())
    assert load_trace_file(bare).comparison is None


def test_exports_are_written_once_in_gradios_cache_and_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    view = RunView(synthetic_trace(), "run")
    path = export_trace(view)
    assert os.path.commonpath([path, str(gradio_cache_dir())]) == str(
        gradio_cache_dir()
    )  # served, not copied
    folder = os.path.dirname(path)
    for _ in range(10):
        export_trace(view)
    prune_exports(Path(folder), keep=4)
    assert len(os.listdir(folder)) == 4
    old = os.path.join(folder, sorted(os.listdir(folder))[0])
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    prune_exports(Path(folder), keep=10, max_age_s=3600)
    assert not os.path.exists(old) and len(os.listdir(folder)) == 3


@pytest.mark.slow
def test_the_largest_run_the_limits_allow_exports_and_loads_back(tmp_path):
    """4096 prompt tokens, 128 new tokens, 28 pruning layers: scores alone would be ~150 MB of JSON."""
    trace = wide_trace(30, 4096, steps=129, pruning_layers=28)
    view = RunView(trace, "run", None)
    text = export_text(view)
    assert len(text.encode()) <= EXPORT_BYTES < MAX_TRACE_BYTES
    path = write(tmp_path, "big.json", text.encode())
    loaded = load_trace_file(path, budget=Budget(max_prompt_tokens=4096, max_steps=129))
    assert loaded.trace.num_steps == 129 and "importance scores kept at" in loaded.notes[0]
    kept = [t for t, s in enumerate(loaded.trace.steps) if s.scores]
    assert kept[0] == 0 and len(kept) < 129


def test_an_export_writes_only_the_scores_it_may_keep(monkeypatch):
    """The thinning search goes from the coarsest candidate down: scores are serialized for the steps
    the kept candidate and the first one too large keep, not for every step of the run."""
    from lazyllm.trace import StepTrace

    trace = wide_trace(30, 2048, steps=65, pruning_layers=28)
    written = []
    real = StepTrace.scores_dict
    monkeypatch.setattr(StepTrace, "scores_dict", lambda self: written.append(self.step) or real(self))
    text = export_text(RunView(trace, "run", None), limit=4 * 2**20)
    kept = [t for t, s in enumerate(json.loads(text)["steps"]) if s["scores"]]
    assert 1 < len(kept) < 65 and set(kept) <= set(written)
    assert len(set(written)) == len(written)  # each step's scores written once
    assert len(written) <= 2 * len(kept) + 1 < 65


def test_a_trace_bomb_is_refused_before_any_figure(tmp_path):
    L, P = 4000, 1200  # the 43 KB file of the issue: 4000 layers x 1200 tokens of figures
    bomb = {"version": 1, "num_layers": L, "prompt_len": P, "tokens": ["t"] * P, "schedule": [], "steps": [{
        "step": 0, "token_id": 0, "depth": [L] * P, "scores": {}, "computed": {}, "revived": {},
        "kv_len": [P] * L, "aux_len": [0] * L, "seconds": 0}]}  # fmt: skip
    path = write(tmp_path, "bomb.json", bomb)
    rss = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    with pytest.raises(
        ValueError, match="num_layers is 4000; this explorer draws traces with num_layers <= 256"
    ):
        load_trace_file(path)
    assert time.perf_counter() - t0 < 5 and psutil.Process().memory_info().rss - rss < 150 * 2**20
    with pytest.raises(ValueError, match="prompt_len is 1200; .* prompt_len <= 1000"):
        load_trace_file(write(tmp_path, "long.json", {**bomb, "num_layers": 4, "steps": [{
            **bomb["steps"][0], "depth": [4] * P, "kv_len": [P] * 4, "aux_len": [0] * 4}]}),
            budget=Budget(max_prompt_tokens=1000))  # fmt: skip


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(num_layers=30.7), "num_layers must be an integer, got 30.7"),
        (lambda d: d.update(prompt_len="20"), "prompt_len must be an integer"),
        (lambda d: d.update(num_layers=True), "num_layers must be an integer"),
        (
            lambda d: d["steps"][0].update(depth=[1.5] * len(d["steps"][0]["depth"])),
            "steps\\[0\\].depth must be",
        ),
        (lambda d: d["steps"][0].update(seconds="fast"), "steps\\[0\\].seconds must be a finite number"),
        (lambda d: d.update(version=2), "version '2' is not supported"),
    ],
)
def test_numbers_must_be_what_the_format_says(tmp_path, change, message):
    data = json.loads(synthetic_trace().to_json())
    change(data)
    with pytest.raises(ValueError, match=message):
        load_trace_file(write(tmp_path, "bad.json", data))


def test_a_bad_explorer_section_is_left_out_with_a_note(tmp_path):
    data = json.loads(synthetic_trace().to_json())
    comparison = synthetic_comparison().to_dict()
    del comparison["kl_per_step"]
    data["explorer"] = {"comparison": comparison, "example": ["a", "list"], "scan": [[1, 2]], "notes": "x"}
    view = load_trace_file(write(tmp_path, "odd.json", data), examples={EXAMPLE.name: EXAMPLE})
    assert view.comparison is None and view.example is None and view.scan is None
    joined = " ".join(view.notes)
    for part in ("comparison", "example", "scan"):
        assert f"the file's {part} could not be read" in joined
    data["explorer"] = ["not", "an", "object"]
    assert "not an object" in load_trace_file(write(tmp_path, "odd2.json", data)).notes[0]


def test_bad_files_are_refused_by_name(tmp_path):
    trace = synthetic_trace()
    cases = {
        "not json": (b"{nope", "not valid JSON"),
        "truncated": (trace.to_json()[:500].encode(), "not valid JSON"),
        "bad utf8": (b'{"a": "\xff\xfe"}', "UTF-8"),
        "missing field": (json.dumps({"num_layers": 2}).encode(), "missing the field"),
        "list": (b"[1, 2]", "JSON object"),
    }
    bad = json.loads(trace.to_json())
    bad["steps"][1]["depth"] = bad["steps"][1]["depth"][:-3]
    cases["arrays disagree"] = (json.dumps(bad).encode(), "depth has length")
    for name, (data, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            load_trace_file(write(tmp_path, f"{name}.json", data))
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(21 * 1024 * 1024)  # sparse: no 21 MB written
    with pytest.raises(ValueError, match="too large"):
        load_trace_file(huge)


def test_inspect_trace_summarises_a_file(tmp_path):
    view = RunView(synthetic_trace(), "run", synthetic_comparison())
    info = inspect_trace(export_trace(view, tmp_path))
    assert info["num_layers"] == 8 and info["has_comparison"] and info["revivals"] > 0
    json.dumps(info)
