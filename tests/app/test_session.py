"""The app without a browser: build_demo(), the jobs and callbacks on a tiny real model, errors, the gate.

The model is a tiny random Llama with the embedded tokenizer (tests/conftest.py): the real runtime,
the real comparison, in milliseconds per step.
"""

from __future__ import annotations

import threading
import time

import gradio as gr
import pytest

from app import ui, wiring
from app.callbacks import CUSTOM, Callbacks
from app.inputs import RunRequest
from app.serving import EMBEDDED, Limits, RunGate
from app.session import App, table_configs
from app.state import RunView
from app.tracefiles import load_trace_file
from app.viewnames import INPUTS, TABLE_OUTPUTS, VIEW_OUTPUTS
from lazyllm import LazyConfig
from lazyllm.config import PRESET_NOTES

PROMPT = "The pass key is 4821. Remember it. " + "The grass is green. " * 12 + "What is the pass key?"
ARGS = dict(prompt=PROMPT, model=EMBEDDED, preset="default", rows=[[1, 0.5], [3, 0.5]], strategy="lazy",
            max_new=6, expected="", example=None, focus="", mode="importance")  # fmt: skip


@pytest.fixture
def app(tiny_app_lm):
    return App(Limits(max_new_tokens=16, max_prompt_tokens=400), loader=lambda name: tiny_app_lm)


class FakeRequest:
    """What a callback reads of gr.Request: the page's query parameters and the session."""

    def __init__(self, query_params: dict, session_hash: str = "s1"):
        self.query_params, self.session_hash = query_params, session_hash


def run(app, kind="run", **kw):
    """Every update of a job, each checked against the outputs its event has in the page (wiring.bind
    raises on any other key: a table job that set a Run view would fail in the browser)."""
    args = {**ARGS, **kw}
    outs = list(Callbacks(app).runner(kind)(*args.values()))
    allowed = set(VIEW_OUTPUTS if kind == "run" else TABLE_OUTPUTS) | set(INPUTS)
    for out in outs:
        assert set(out) <= allowed, f"{kind} set {sorted(set(out) - allowed)}, not outputs of its event"
    return outs


def test_build_demo_sets_every_view_at_build_time_and_loads_only_links(app):
    demo = ui.build_demo(app)
    assert isinstance(demo, gr.Blocks) and app.hub.lm is None  # nothing loaded at build time
    ids = {b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    for elem in ("lz-run", "lz-stop", "lz-compare", "lz-sweep", "lz-jump", "lz-survival-plot", "lz-scan-plot",
                 "lz-evidence-table", "lz-expected", "lz-jump-to"):  # fmt: skip
        assert elem in ids
    deps = demo.config["dependencies"]
    loads = [d for d in deps if any(t[1] == "load" for t in d["targets"])]
    assert len(loads) == 1  # a link's inputs (Callbacks.open_link); a page opened without one gets nothing
    assert Callbacks(app).open_link("", "importance", FakeRequest({})) == {}
    assert Callbacks(app).open_link("", "importance", FakeRequest({"__theme": "dark"})) == {}
    run_dep = next(d for d in deps if d.get("api_name") == "run")
    assert run_dep["api_visibility"] == "public"
    survival = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "lz-survival-plot")
    assert survival.value is not None  # the recorded example's view, drawn at build time


def test_run_marks_views_pending_then_streams_then_draws_every_view(app):
    outs = run(app)
    assert "Pending" in outs[0]["verdict"] and "Pending" in outs[0]["survival"].layout.annotations[0].text
    assert (
        outs[0]["stale_note"] == ""
    )  # the results coming are this prompt's (the screen check follows the run)
    assert any('data-kind="run"' in o.get("status", "") for o in outs[1:-1])
    final = outs[-1]
    assert 'data-kind="done"' in final["status"], final["status"]
    missing = (
        set(VIEW_OUTPUTS) - set(final) - {"example", "expected", "stale_note"}
    )  # set when the prompt is not the example's; the note: at the start
    assert not missing, missing
    view = app.views.get(final["view"])  # the session's state holds a key into the app's ViewStore
    assert isinstance(view, RunView) and view.comparison is not None and view.scan is not None
    assert view.trace.config_label == "custom (default with schedule 1:0.5, 3:0.5)"
    assert "verdict" in final and ("Same text" in final["verdict"] or "Diverged" in final["verdict"])
    loaded = load_trace_file(final["download"])
    assert loaded.comparison == view.comparison and loaded.trace.to_json() == view.trace.to_json()


def test_live_views_arrive_at_prefill(app, monkeypatch):
    """The first decode step waits a second, so the prefill's event reaches the page in a batch of its
    own however busy the machine is (events that arrive together are drawn once)."""
    from lazyllm.runtime import LazyRunner

    real, calls = LazyRunner.step, []

    def step(self, ids):
        calls.append(1)
        if len(calls) == 2:  # call 1 is the prefill
            time.sleep(1.0)
        return real(self, ids)

    monkeypatch.setattr(LazyRunner, "step", step)
    outs = run(app)
    live = next(o for o in outs if "survival" in o and "run in progress" in o.get("source", ""))
    assert "prefill" in live["survival"].layout.title.text and "Pending" in outs[0]["verdict"]
    assert live["view"] == outs[-1]["view"]  # one key per run: the finished view replaced the live one


def test_no_step_runs_while_the_page_draws_the_live_views(app, monkeypatch):
    """A live view is drawn while the run waits (Progress.drawn): the steps' intervals and the
    drawings' never overlap, so no timed step shares the machine with the page's figures."""
    from app import views
    from lazyllm.runtime import LazyRunner

    steps, draws = [], []
    real_step, real_render = LazyRunner.step, views.render_run

    def step(self, ids):
        t0 = time.perf_counter()
        try:
            return real_step(self, ids)
        finally:
            steps.append((t0, time.perf_counter()))

    def render(view, *a, **k):
        t0 = time.perf_counter()
        time.sleep(0.2)  # a slow page: without the wait, the next steps would run meanwhile
        try:
            return real_render(view, *a, **k)
        finally:
            if "in progress" in view.source:
                draws.append((t0, time.perf_counter()))

    monkeypatch.setattr(LazyRunner, "step", step)
    monkeypatch.setattr(views, "render_run", render)
    outs = run(app, max_new=4)
    assert draws and 'data-kind="done"' in outs[-1]["status"]
    overlaps = [(s, d) for s in steps for d in draws if s[0] < d[1] and d[0] < s[1]]
    assert not overlaps, overlaps


def test_the_scan_is_kept_per_prompt_and_the_baseline_is_run_in_every_job(app, monkeypatch):
    """The speedups compare runs of the same job; only the layer scan (a function of the prompt's
    prefill) is reused, also across token counts."""
    import lazyllm.compare

    baselines, real = [], lazyllm.compare.generate_stream

    def counting(lm, prompt, config=None, **kw):
        if config is None:
            baselines.append(kw.get("scan", False))
        return real(lm, prompt, config, **kw)

    monkeypatch.setattr(lazyllm.compare, "generate_stream", counting)
    run(app)
    outs = run(app, rows=[[2, 0.3]], strategy="static")
    assert 'data-kind="done"' in outs[-1]["status"]
    run(app, max_new=7)
    assert baselines == [True, False, False]  # a baseline per job, the scan only the first time
    view = app.views.get(outs[-1]["view"])
    assert view.scan is not None and view.comparison.timing.startswith("one run each, back to back")


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(prompt="   "), "prompt is empty"),
        (dict(prompt="x " * 3000), "prompt too long"),
        (dict(rows=[[99, 0.5]]), "out of range"),
        (dict(rows=[[2, 1.5]]), "keep fraction must be in (0, 1]"),
        (dict(rows=[[4, 0.5], [2, 0.5]]), "strictly increasing"),
        (dict(rows=[["a", 0.5]]), "must be numbers"),
        (dict(rows=5), "schedule must be text"),
        (dict(max_new=0), "max_new_tokens must be in [1, 16]"),
        (dict(max_new=10_000), "max_new_tokens must be in [1, 16]"),
        (dict(max_new=True), "max_new_tokens must be an integer"),
        (dict(max_new=float("nan")), "max_new_tokens must be an integer"),
        (dict(strategy="greedy"), "strategy must be one of"),
        (dict(preset="fastest"), "preset must be one of"),
        (dict(preset=["default"]), "preset must be one of"),
        (dict(model="evil/model"), "not in this deployment's allowlist"),
        (dict(focus="1" * 5000), "focus span is too long"),
        (dict(expected=7), "expected answer must be text"),
    ],
)
def test_bad_input_is_reported_and_frees_the_slot(app, kw, message):
    outs = run(app, **kw)
    assert 'data-kind="error"' in outs[-1]["status"]
    assert message in outs[-1]["status"].replace("&#x27;", "'"), outs[-1]["status"]
    assert app.gate.try_enter()  # the slot was given back
    app.gate.leave()


def test_after_bad_input_a_valid_run_gives_the_same_output(app):
    before = app.views.get(run(app)[-1]["view"]).comparison
    for kw in (dict(prompt=""), dict(rows=[[99, 0.5]]), dict(max_new=-3), dict(model="x/y")):
        assert 'data-kind="error"' in run(app, **kw)[-1]["status"]
    after = app.views.get(run(app)[-1]["view"]).comparison
    assert after.lazy_text == before.lazy_text and after.kl_per_step == before.kl_per_step


def test_a_failing_model_load_keeps_the_previous_model(tiny_app_lm):
    def loader(name):
        if name:
            raise OSError("no such model")
        return tiny_app_lm

    app = App(Limits(max_new_tokens=8, allowed_models=("other/model",)), loader=loader)
    assert 'data-kind="done"' in run(app)[-1]["status"]
    first = app.hub.lm
    outs = run(app, model="other/model")
    assert "could not load model 'other/model'" in outs[-1]["status"].replace("&#x27;", "'")
    assert app.hub.lm is first and app.hub.name == EMBEDDED


def test_queued_then_busy_when_the_queue_is_full(app):
    gate = app.gate = RunGate(concurrency=1, max_queue=1)
    assert gate.try_enter()  # a run in progress
    waited = []
    waiter = threading.Thread(target=lambda: waited.append(gate.enter(on_wait=waited.append, poll_s=0.01)))
    waiter.start()
    deadline = time.time() + 5
    while not waited and time.time() < deadline:
        time.sleep(0.01)
    assert waited[0] == 1  # queued: one run waiting
    outs = run(app)  # a third visitor
    assert "busy" in outs[-1]["status"] and 'data-kind="error"' in outs[-1]["status"]
    gate.leave()
    waiter.join(5)
    assert waited[-1] is True  # the queued run got the slot
    gate.leave()


class Session:
    session_hash = "session-1"


@pytest.fixture
def slow_steps(monkeypatch):
    from lazyllm.runtime import LazyRunner

    real = LazyRunner.step

    def step(self, ids):
        time.sleep(0.03)
        return real(self, ids)

    monkeypatch.setattr(LazyRunner, "step", step)


def test_stop_ends_the_run_cleanly_and_frees_the_slot(app, monkeypatch):
    """Stop is clicked during LazyLLM's third decode step (from inside the step, so the moment does
    not depend on how fast this machine is)."""
    from lazyllm.runtime import LazyRunner

    cb, real, calls = Callbacks(app), LazyRunner.step, []

    def step(self, ids):
        calls.append(1)
        if len(calls) == 3:
            cb.stop(Session())  # the Stop button
        return real(self, ids)

    monkeypatch.setattr(LazyRunner, "step", step)
    outs = list(cb.runner("run")(*{**ARGS, "max_new": 16}.values(), Session()))
    assert "Stopped at LazyLLM step" in outs[-1]["status"], outs[-1]["status"]
    assert len(calls) < 16, "the run went on after Stop"
    # what that run computed is on screen, and nothing says running or pending any more
    final = {}
    for out in outs:
        final.update(out)
    view = app.views.get(final["view"])
    assert view.source.startswith("stopped at LazyLLM step") and view.comparison is None
    assert 1 <= view.trace.num_steps < 16 and "Stopped before the baseline comparison" in final["metrics"]
    texts = [v for v in final.values() if isinstance(v, str)]
    figures = [v for v in final.values() if hasattr(v, "layout") and hasattr(v.layout, "annotations")]
    texts += [a.text or "" for f in figures for a in f.layout.annotations]
    assert not [t for t in texts if "(running)" in t or "Pending" in t or "in progress" in t]
    assert app.gate.try_enter()  # the slot is free again
    app.gate.leave()
    monkeypatch.setattr(LazyRunner, "step", real)
    assert 'data-kind="done"' in run(app)[-1]["status"]


def test_a_page_that_goes_away_mid_run_cannot_keep_the_slot(app, slow_steps):
    gen = Callbacks(app).runner("run")(*{**ARGS, "max_new": 16}.values())
    next(gen)
    del gen  # abandoned without being closed or stopped
    deadline = time.time() + 20
    while not app.gate.try_enter():
        assert time.time() < deadline, "the slot was never given back"
        time.sleep(0.05)
    app.gate.leave()


def test_run_api_reports_the_config_that_ran_fidelity_and_verdict(app):
    out = app.run_api(PROMPT, preset="question", schedule="", max_new_tokens=4, expected="4821")
    assert out["config"]["name"] == "question" and out["config"]["window"] == 16
    assert len(out["kl_per_step"]) == len(out["top1_per_step"]) == out["baseline_new_tokens"]
    assert out["verdict"].startswith(("Same text", "Diverged")) and "the answer is" in out["verdict"]
    assert out["correct"] in (True, False)
    custom = app.run_api(PROMPT, preset="question", schedule="1:0.5", max_new_tokens=4)
    assert (
        custom["config"]["label"] == "custom (question with schedule 1:0.5)"
        and custom["config"]["window"] == 16
    )
    with pytest.raises(ValueError, match="keep fraction"):
        app.run_api(PROMPT, schedule="2:0", max_new_tokens=4)
    with pytest.raises(ValueError, match="max_new_tokens"):
        app.run_api(PROMPT, max_new_tokens=-1)


def test_concurrent_api_runs_do_not_mix(app):
    results = {}

    def go(i):
        results[i] = app.run_api(f"prompt number {i} " * 3, schedule=f"{i}:0.5", max_new_tokens=3)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [1, 2, 3, 4]
    assert [results[i]["config"]["schedule"] for i in range(1, 5)] == [[[i, 0.5]] for i in range(1, 5)]
    assert app.gate.waiting == 0


def test_compare_strategies_and_sweep(app):
    outs = run(app, "strategies", prompt="A prompt no run has seen. " + PROMPT)  # its baseline runs here too
    assert 'data-kind="done"' in outs[-1]["status"]
    rows = outs[-1]["table"]
    assert [r[0] for r in rows] == ["baseline", "lazy", "static", "random"]
    assert len(outs[-1]["table_plot"].data) >= 1
    sweep = run(app, "sweep")[-1]
    assert [r[0] for r in sweep["table"]] == ["baseline", *(f"keep {k:g}" for k in (0.1, 0.2, 0.3, 0.5, 0.7))]
    req = RunRequest.parse(app.limits, PROMPT, None, "baseline", None, None, 4)
    default_layers = [layer for layer, _ in LazyConfig.preset("default", num_layers=6).schedule]
    sweep_rows = table_configs(req, "sweep", 6)  # default: keep 0.4, on screen, so in the sweep
    assert [label for label, _ in sweep_rows] == [f"keep {k:g}" for k in (0.1, 0.2, 0.3, 0.4, 0.5, 0.7)]
    assert sweep_rows[0][1].schedule == tuple((layer, 0.1) for layer in default_layers)
    mixed = RunRequest.parse(app.limits, PROMPT, None, "default", [[1, 0.5], [3, 0.25]], None, 4)
    assert table_configs(mixed, "sweep", 6)[-1] == ("your schedule", mixed.config(6))


def test_example_selection_and_edits(app):
    """An example with a recorded run: the run on screen and the inputs it ran with; the prompt edited
    away from the example: the example's answer goes, and the screen says the results are another
    prompt's."""
    cb = Callbacks(app)
    name = next(iter(app.examples))
    ex = app.examples[name]
    picked = cb.on_example(name, "", "importance")
    assert (picked["prompt"], picked["expected"], picked["preset"]) == (ex.prompt, ex.answer, ex.preset)
    assert picked["view"] == "recorded:" + name and picked["recorded"] == name and picked["stale_note"] == ""
    recorded = app.recorded_view(name).trace
    assert picked["strategy"] == recorded.strategy and picked["max_new"] == min(24, app.limits.max_new_tokens)
    assert picked["model"] == EMBEDDED and picked["example"] == name
    harbour = next(e for e in app.examples.values() if e.task == "harbour_notes")
    picked = cb.on_example(
        harbour.name, "", "importance"
    )  # the lesson's example selects the preset it is about
    layers = app.hub.lm.num_layers if app.hub.lm is not None else 30
    assert harbour.preset == "paper" and picked["preset"] == "paper"
    assert picked["schedule"] == [
        [layer, k] for layer, k in LazyConfig.preset("paper", num_layers=layers).schedule
    ]
    assert picked["preset_note"] == PRESET_NOTES["paper"]
    assert "Harbour" in picked["source"]
    assert cb.on_example("no such example", "", "importance") == {}
    key = "recorded:" + name
    assert cb.on_prompt_edit(ex.prompt, name, key, None) == {"stale_note": ""}
    # edited away from the example: the example's expected answer goes with it, the results are marked
    edited = cb.on_prompt_edit(ex.prompt + " edited", name, key, None)
    assert (edited["example"], edited["expected"]) == (CUSTOM, "")
    assert "From a previous prompt" in edited["stale_note"] and "opacity" in edited["stale_note"]
    own = cb.on_prompt_edit("my own prompt", CUSTOM, key, None)
    assert own["example"] == CUSTOM and "expected" not in own  # a typed answer stays


def test_an_examples_answer_never_judges_another_prompt(app):
    """A prompt pasted over an example, run before the page cleared the example's answer: the answer
    sent is the example's, so nothing is judged; an answer of the visitor's own is used, and so is
    the one /run is given."""
    ex = next(e for e in app.examples.values() if e.task == "passkey")
    pasted = "The code word is 'heron'. What is the code word?"

    def known(prompt, expected, example):
        req = RunRequest.parse(app.limits, prompt, EMBEDDED, "default", None, "lazy", 4, expected, example)
        return app.known_answer(req)

    assert known(ex.prompt, "", ex.name) == (ex, ex.answer)  # the example itself
    assert known(pasted, ex.answer, ex.name) == (None, "")  # stale: the example's answer
    assert known(pasted, "heron", ex.name) == (None, "heron")  # typed for this prompt
    assert known(pasted, ex.answer, None) == (None, ex.answer)  # /run: used as given
    outs = run(app, prompt=pasted, expected=ex.answer, example=ex.name, max_new=2)
    assert outs[0] == {"example": CUSTOM, "expected": ""}  # the page's fields follow
    view = app.views.get(outs[-1]["view"])
    assert view.expected == "" and view.correct() is None
    assert "answer is" not in view.verdict()


def test_bind_raises_on_an_unknown_view_name():
    c = {"status": gr.HTML()}
    bound = wiring.bind(lambda: {"statsu": "typo"}, c, [c["status"]])
    with pytest.raises(KeyError, match="statsu"):
        bound()


def test_views_are_held_by_key_within_a_memory_budget(app):
    cb = Callbacks(app)
    first = run(app)[-1]["view"]
    assert isinstance(first, str) and app.views.get(first) is not None
    app.views.budget = int(2.5 * app.views.get(first).nbytes())  # room for two such views
    keys = [run(app, prompt=f"run {i} " + PROMPT)[-1]["view"] for i in range(3)]
    assert app.views.held_bytes <= app.views.budget and app.views.get(keys[-1]) is not None
    assert app.views.get(first) is None  # the least recently used went first
    out = cb.on_step(first, 1, "", "importance")
    assert "no longer held by the server" in out["status"]
    assert "survival" in cb.on_step(keys[-1], 1, "", "importance")


def test_step_and_focus_callbacks_refuse_bad_values_with_a_message(app):
    cb = Callbacks(app)
    for step in (float("nan"), "x", 10**12, None):
        out = cb.on_step(None, step, "", "importance")
        assert 'data-kind="error"' in out["status"] and "step" in out["status"]
    out = cb.on_focus(None, 0, "9" * 4400, "importance")
    assert "focus span is too long" in out["status"]
    assert set(cb.on_step(None, 3, "", "importance")) >= {"survival", "importance", "evidence_md"}


def test_run_and_tables_compare_through_compare_stream(app, monkeypatch):
    """The app's jobs run lazyllm.compare.compare_stream (no copy of the sequence): a Run once, a
    table once per row, each row against the table's one baseline (given to it)."""
    from app import session

    seen, real = [], session.compare_stream

    def counting(lm, prompt, config, **kw):
        seen.append((config.strategy, kw.get("base") is not None))
        yield from real(lm, prompt, config, **kw)

    monkeypatch.setattr(session, "compare_stream", counting)
    assert 'data-kind="done"' in run(app, max_new=2)[-1]["status"]
    assert seen == [("lazy", False)]
    outs = run(app, kind="strategies", max_new=2)
    assert 'data-kind="done"' in outs[-1]["status"]
    assert seen[1:] == [("lazy", True), ("static", True), ("random", True)]
    tables = [o["table"] for o in outs if "table" in o]
    assert [len(t) for t in tables] == [0, 2, 3, 4]  # the rows arrive as each run ends


def test_the_run_endpoint_keeps_run_apis_signature(app):
    """/run is App.run_api's signature (the wrapper only turns errors into gr.Error)."""
    info = ui.build_demo(app).get_api_info()["named_endpoints"]["/run"]["parameters"]
    names = [(p["parameter_name"], p.get("parameter_default")) for p in info]
    assert names == [
        ("prompt", None),
        ("preset", "default"),
        ("schedule", ""),
        ("strategy", "lazy"),
        ("max_new_tokens", 32),
        ("expected", ""),
    ]
