"""The UI without a browser: build_demo(), the run callback on a stand-in runtime, errors, trace files."""

from __future__ import annotations

import json
import threading
import time

import gradio as gr
import pytest

from app import callbacks as cb
from app import figures as F
from app.synthetic import FakeLM, FakeRuntime, synthetic_trace
from app.ui import VIEW_OUTPUTS, build_demo

PROMPT = "Where is the pass key? " * 5


@pytest.fixture
def runtime(monkeypatch):
    rt = FakeRuntime(prompt_len=40, step_s=0.02)
    monkeypatch.setattr(cb, "_runtime", lambda: rt)
    return rt


@pytest.fixture
def app(runtime):
    return cb.App(cb.Limits(max_new_tokens=16, max_prompt_tokens=200), loader=lambda name: FakeLM(8))


def run_all(app, **kw):
    args = dict(
        prompt=PROMPT, model=cb.EMBEDDED, preset="default", schedule=[[2, 0.6], [5, 0.6]], strategy="lazy",
        max_new_tokens=6, example=None, step=0, focus="", mode="importance",
    )  # fmt: skip
    args.update(kw)
    return list(app.run_ui(*args.values()))


def test_build_demo_builds_without_launching(app):
    demo = build_demo(app)
    assert isinstance(demo, gr.Blocks)
    ids = {b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    for elem in (
        "lz-run",
        "lz-stop",
        "lz-survival-plot",
        "lz-importance-plot",
        "lz-revivals-plot",
        "lz-speed-plot",
    ):
        assert elem in ids
    apis = {d.get("api_name") for d in demo.config["dependencies"]}
    assert "run" in apis
    run_dep = next(d for d in demo.config["dependencies"] if d.get("api_name") == "run")
    assert run_dep["api_visibility"] == "public"
    assert app.hub.lm is None  # nothing loaded at build time


def test_run_streams_progress_then_every_view(app, runtime):
    outs = run_all(app)
    assert len(outs) >= 3  # loading, progress (steps batched while views draw), done
    assert all("status" in o for o in outs)
    assert any('data-kind="run"' in o["status"] for o in outs[:-1])
    final = outs[-1]
    assert 'data-kind="done"' in final["status"]
    missing = set(VIEW_OUTPUTS) - set(final) - {"example"}  # only a loaded trace sets the example
    assert not missing, missing
    s = final["view"]["summary"]
    assert s["ttft_speedup"] == pytest.approx(2.0) and s["generation_speedup"] == pytest.approx(0.7 / 0.5)
    assert 0 < s["compute_fraction"] < 1 and s["token_agreement"] <= 1
    assert [c[1].strategy for c in runtime.calls] == ["lazy", "lazy"]
    assert runtime.calls[0][1].schedule == ((2, 0.6), (5, 0.6)) and runtime.calls[1][1].schedule == ()
    with open(final["download"]) as f:
        data = json.load(f)
    assert data["explorer"]["summary"]["ttft_speedup"] == pytest.approx(2.0)
    assert len(data["steps"]) == 6


def test_live_views_arrive_at_prefill(app):
    outs = run_all(app)
    lazy_first = next(o for o in outs if "survival" in o)
    assert lazy_first["view"]["trace"].num_steps == 1  # drawn from the prefill step, before decoding ends


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(prompt="   "), "prompt is empty"),
        (dict(prompt="x " * 3000), "prompt too long"),
        (dict(schedule=[[99, 0.5]]), "out of range"),
        (dict(schedule=[[2, 1.5]]), "keep fraction must be in (0, 1]"),
        (dict(schedule=[[5, 0.5], [2, 0.5]]), "strictly increasing"),
        (dict(schedule=[["a", 0.5]]), "must be numbers"),
        (dict(max_new_tokens=0), "max_new_tokens must be in [1, 16]"),
        (dict(max_new_tokens=10_000), "max_new_tokens must be in [1, 16]"),
        (dict(strategy="greedy"), "strategy must be one of"),
        (dict(preset="fastest", schedule=[]), "preset must be one of"),
        (dict(model="evil/model"), "not in this deployment's allowlist"),
    ],
)
def test_bad_input_is_reported(app, kw, message):
    outs = run_all(app, **kw)
    assert 'data-kind="error"' in outs[-1]["status"]
    assert message in outs[-1]["status"].replace("&#x27;", "'")
    assert app.gate.try_enter()  # the slot was given back
    app.gate.leave()


def test_after_bad_input_a_valid_run_gives_the_same_output(app):
    before = run_all(app)[-1]["view"]["summary"]
    for kw in (dict(prompt=""), dict(schedule=[[99, 0.5]]), dict(max_new_tokens=-3), dict(model="x/y")):
        assert 'data-kind="error"' in run_all(app, **kw)[-1]["status"]
    after = run_all(app)[-1]["view"]["summary"]
    assert after["lazy_text"] == before["lazy_text"] and after["kl_per_step"] == before["kl_per_step"]


def test_a_failing_model_load_keeps_the_previous_model(runtime):
    def loader(name):
        if name:
            raise OSError("no such model")
        return FakeLM(8)

    limits = cb.Limits(max_new_tokens=8, allowed_models=("other/model",))
    app = cb.App(limits, loader=loader)
    assert 'data-kind="done"' in run_all(app)[-1]["status"]
    first = app.hub.lm
    outs = run_all(app, model="other/model")
    assert "could not load model 'other/model'" in outs[-1]["status"].replace("&#x27;", "'")
    assert app.hub.lm is first and app.hub.name == cb.EMBEDDED


def test_queued_then_busy_when_the_queue_is_full(app):
    gate = cb.RunGate(concurrency=1, max_queue=1)
    app.gate = gate
    assert gate.try_enter()  # a run in progress
    waited = []
    waiter = threading.Thread(target=lambda: waited.append(gate.enter(on_wait=waited.append, poll_s=0.01)))
    waiter.start()
    deadline = time.time() + 5
    while not waited and time.time() < deadline:
        time.sleep(0.01)
    assert waited[0] == 1  # queued: one run waiting
    outs = run_all(app)  # a third visitor
    assert "busy" in outs[-1]["status"] and 'data-kind="error"' in outs[-1]["status"]
    gate.leave()
    waiter.join(5)
    assert waited[-1] is True  # the queued run got the slot
    gate.leave()


class Session:
    session_hash = "session-1"


def test_stop_ends_the_run_cleanly_and_frees_the_slot(runtime, app):
    runtime.step_s = 0.05
    gen = app.run_ui(
        PROMPT, cb.EMBEDDED, "default", [[2, 0.6]], "lazy", 16, None, 0, "", "importance", Session()
    )
    outs = [next(gen)]
    while "LazyLLM" not in outs[-1]["status"]:
        outs.append(next(gen))
    app.stop_ui(Session())  # the Stop button
    outs += list(gen)
    assert "Stopped after LazyLLM step" in outs[-1]["status"]
    assert len(runtime.calls) == 1  # the baseline never started
    assert app.gate.try_enter()  # the slot is free again
    app.gate.leave()
    runtime.step_s = 0.02
    assert 'data-kind="done"' in run_all(app)[-1]["status"]


def test_a_page_that_goes_away_mid_run_cannot_keep_the_slot(runtime, app):
    gen = app.run_ui(PROMPT, cb.EMBEDDED, "default", [[2, 0.6]], "lazy", 8, None, 0, "", "importance")
    next(gen)
    del gen  # abandoned without being closed or stopped
    deadline = time.time() + 10
    while not app.gate.try_enter():
        assert time.time() < deadline, "the slot was never given back"
        time.sleep(0.05)
    app.gate.leave()


def test_run_api_returns_the_summary_and_raises_gr_error(app):
    out = app.run_api(PROMPT, preset="default", schedule="2:0.6, 5:0.6", strategy="lazy", max_new_tokens=4)
    for key in ("baseline_text", "lazy_text", "baseline_ttft_s", "lazy_ttft_s", "ttft_speedup",
                "generation_speedup", "compute_fraction", "token_agreement"):  # fmt: skip
        assert key in out
    json.dumps(out)
    with pytest.raises(gr.Error, match="keep fraction"):
        app.run_api(PROMPT, schedule="2:nan", max_new_tokens=4)
    with pytest.raises(gr.Error, match="max_new_tokens"):
        app.run_api(PROMPT, max_new_tokens=-1)


def test_concurrent_api_runs_do_not_mix(app, runtime):
    results = {}

    def go(i):
        results[i] = app.run_api(f"prompt number {i} " * 3, schedule=f"{i}:0.5", max_new_tokens=3)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [1, 2, 3, 4]
    prompts = {c[0] for c in runtime.calls}
    assert prompts == {f"prompt number {i} " * 3 for i in range(1, 5)}
    assert app.gate.waiting == 0


def test_one_failing_view_leaves_the_others(monkeypatch):
    trace = synthetic_trace()
    view = cb.make_view(trace, None, None, "test")

    def broken(*a):
        raise RuntimeError("boom")

    monkeypatch.setattr(F, "importance_plot", broken)
    out = cb.render_step(view, 1, "", "importance")
    assert "could not draw" in out["importance"].layout.title.text
    assert "boom" in out["importance"].layout.annotations[0].text
    assert out["survival"].data[0].type == "heatmap"
    assert "lz-tok" in out["prompt_html"]


def test_focus_accepts_positions_or_text():
    trace = synthetic_trace()
    view = cb.make_view(trace, None, None, "test")
    assert cb.resolve_focus(view, "3-5") == (3, 6)
    assert cb.resolve_focus(view, "7") == (7, 8)
    assert cb.resolve_focus(view, "pass key") == (1, 3)
    assert cb.resolve_focus(view, "") is None


def test_schedule_rows_and_presets():
    assert cb.rows_to_schedule([[9, 0.7], [None, None], ["", ""], [19.0, "0.5"]]) == ((9, 0.7), (19, 0.5))
    assert cb.rows_to_schedule("9:0.7, 19:0.7") == ((9, 0.7), (19, 0.7))
    with pytest.raises(ValueError, match="integer"):
        cb.rows_to_schedule([[9.5, 0.7]])
    assert cb.preset_rows("baseline") == []
    cfg = cb.make_config("default", cb.preset_rows("default"), "lazy", 30)
    assert cfg.name == "default" and cfg.num_layers == 30
    assert cb.make_config("default", [[3, 0.5]], "static", 30).name == "custom"


def test_trace_files_round_trip_and_bad_files(tmp_path):
    trace = synthetic_trace()
    view = cb.make_view(trace, {"ttft_speedup": 2.0}, None, "run")
    path = cb.export_trace(view)
    loaded = cb.load_trace_file(path)
    assert loaded["trace"].to_json() == trace.to_json() and loaded["summary"] == {"ttft_speedup": 2.0}
    bare = tmp_path / "bare.json"
    bare.write_text(trace.to_json())
    assert cb.load_trace_file(bare)["summary"] is None
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
        p = tmp_path / f"{name}.json"
        p.write_bytes(data)
        with pytest.raises(ValueError, match=message):
            cb.load_trace_file(p)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(21 * 1024 * 1024)  # sparse: no 21 MB written
    with pytest.raises(ValueError, match="too large"):
        cb.load_trace_file(huge)


def test_limits_from_env(monkeypatch):
    monkeypatch.setenv("LAZYLLM_MAX_NEW_TOKENS", "7")
    monkeypatch.setenv("LAZYLLM_MAX_PROMPT_TOKENS", "300")
    monkeypatch.setenv("LAZYLLM_ALLOWED_MODELS", "a/b, c/d")
    monkeypatch.setenv("LAZYLLM_CONCURRENCY", "not a number")
    lim = cb.Limits.from_env()
    assert (lim.max_new_tokens, lim.max_prompt_tokens, lim.concurrency) == (7, 300, 1)
    assert lim.model_choices() == [cb.EMBEDDED, "a/b", "c/d"]


def test_examples_have_marked_answers():
    examples = cb.load_examples()
    assert {e["task"] for e in examples.values()} >= {"multidoc_qa", "passkey", "summary", "code"}
    for ex in examples.values():
        assert ex["answer_span"] in ex["prompt"]
        assert 1500 < len(ex["prompt"]) < 10_000  # ~500-2000 tokens
