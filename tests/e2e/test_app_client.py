"""The launched app (`python app.py`) through gradio_client: the /run endpoint on the embedded model,
errors that keep it serving, and several sessions at once.

The server is the launched app of tests/e2e/conftest.py (`launched_app`, `app_client`: started once
per test session), which tests/e2e/test_browser.py and tests/e2e/test_soak.py use too.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.app_server import ROOT

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
PASSKEY_PROMPT = (
    "There is a pass key hidden in the text below. Find it and remember it.\n\n"
    + FILLER * 6
    + "The pass key is 40721. Remember it. 40721 is the pass key. "
    + FILLER * 6
    + "\n\nWhat is the pass key? Answer with the number only."
)
ODD_TEXT = "Which colour is the sky? 🌤️ السماء زرقاء \x07\x1b[31m\u200f end"  # emoji, RTL, control chars
KEYS = ("baseline_text", "lazy_text", "baseline_ttft_s", "lazy_ttft_s", "ttft_speedup", "verdict", "config")


def run(app_client, prompt=PASSKEY_PROMPT, **kw):
    return app_client.predict(prompt=prompt, **{"max_new_tokens": 10, **kw}, api_name="/run")


@pytest.mark.slow
def test_run_endpoint_returns_the_comparison(app_client):
    out = run(app_client, preset="default", schedule="", strategy="lazy", expected="40721")
    for key in KEYS + (
        "generation_speedup",
        "compute_fraction",
        "token_agreement",
        "mean_kl",
        "top1_agreement",
    ):
        assert key in out, key
    assert "40721" in out["baseline_text"]  # the embedded model finds the pass key
    assert out["lazy_text"].strip()
    assert out["ttft_speedup"] == pytest.approx(out["baseline_ttft_s"] / out["lazy_ttft_s"], rel=1e-6)
    assert out["generation_speedup"] == pytest.approx(out["baseline_total_s"] / out["lazy_total_s"], rel=1e-6)
    assert 0.3 < out["compute_fraction"] < 1.0  # the default schedule prunes, but not everything
    assert 0.0 <= out["token_agreement"] <= 1.0
    # teacher-forced: one KL and one top-1 for every step of the baseline, on the same context
    assert len(out["kl_per_step"]) == len(out["top1_per_step"]) == out["baseline_new_tokens"]
    assert out["first_divergence"] is None or 0 <= out["first_divergence"] <= 10
    assert (
        out["baseline_correct"] is True and out["verdict"].endswith(".") and "the answer is" in out["verdict"]
    )
    assert out["config"]["name"] == "default" and out["config"]["label"] == "default"
    run.first = out


@pytest.mark.slow
def test_an_idle_server_spends_almost_no_cpu(launched_app):
    """Between visitors the server only waits: over 3 s, under 4% of a core (Gradio's queue polls every
    1 ms by default, ~9% of a core; app.ui.enable_queue polls every 50 ms: ~1%)."""
    import psutil

    proc = psutil.Process(launched_app.pid)
    before = proc.cpu_times()
    time.sleep(3)
    after = proc.cpu_times()
    used = (after.user + after.system) - (before.user + before.system)
    assert used < 0.12, f"{used:.2f} s of CPU in 3 s idle"


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["baseline", "paper", "default", "fast", "question"])
def test_the_config_that_ran_is_the_presets(app_client, preset):
    from lazyllm import PRESETS, LazyConfig

    if preset not in PRESETS:
        pytest.fail(f"preset {preset} is documented but missing")
    out = run(app_client, preset=preset, max_new_tokens=1)
    cfg = LazyConfig.preset(preset, num_layers=30)
    assert out["config"]["name"] == preset and out["config"]["label"] == preset
    assert out["config"]["schedule"] == [[layer, k] for layer, k in cfg.schedule]
    assert (out["config"]["window"], out["config"]["pool"], out["config"]["sinks"]) == (
        cfg.window,
        cfg.pool,
        cfg.sinks,
    )


@pytest.mark.slow
def test_bad_requests_get_messages_and_the_app_keeps_serving(app_client):
    from gradio_client.exceptions import AppError

    for kw, message in (
        (dict(prompt="  \n\t "), "prompt is empty"),
        (dict(prompt="x" * 100_000), "prompt too long"),
        (dict(schedule="40:0.5"), "out of range"),
        (dict(schedule="9:0"), "keep fraction"),
        (dict(schedule="9:nan"), "layer:keep with ASCII digits"),
        (dict(schedule="1_0:0.5"), "refused '1_0:0.5'"),
        (dict(schedule="x" * 20_000), "schedule: too long"),
        (dict(preset=["default"]), "preset must be one of"),
        (dict(preset={"a": 1}), "preset must be one of"),
        (dict(schedule=5), "schedule must be text"),
        (dict(max_new_tokens=True), "max_new_tokens must be an integer"),
        (dict(schedule="19:0.5, 9:0.5"), "strictly increasing"),
        (dict(schedule="nine"), "layer:keep"),
        (dict(strategy="fastest"), "strategy must be one of"),
        (dict(preset="turbo"), "preset must be one of"),
        (dict(max_new_tokens=1000), "max_new_tokens must be in [1, 16]"),
        (dict(max_new_tokens=0), "max_new_tokens must be in [1, 16]"),
    ):
        with pytest.raises(AppError, match=message.replace("[", r"\[")):
            run(app_client, **kw)
    again = run(app_client, preset="default", strategy="lazy")
    if hasattr(run, "first"):
        assert again["lazy_text"] == run.first["lazy_text"]  # same output as before the bad requests
    assert again["compute_fraction"] < 1.0


@pytest.mark.slow
def test_inspect_trace_endpoint_reads_good_files_and_refuses_bad_ones(app_client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    good = sorted((ROOT / "assets" / "traces").glob("*.json"))[0]
    info = app_client.predict(trace_file=handle_file(str(good)), api_name="/inspect_trace")
    assert info["num_layers"] == 30 and info["has_comparison"] and 0 < info["compute_fraction"] < 1
    text = good.read_text()
    bad = json.loads(text)
    bad["steps"][2]["kv_len"] = bad["steps"][2]["kv_len"][:5]
    cases = {
        "malformed": (b"{not json", "not valid JSON"),
        "truncated": (text[: len(text) // 2].encode(), "not valid JSON"),
        "utf8": (b'{"tokens": ["\xff"]}', "UTF-8"),
        "schema": (json.dumps({"num_layers": "many", "prompt_len": 3, "tokens": [], "schedule": [], "steps": []}).encode(),
                   "num_layers must be an integer"),
        "lengths": (json.dumps(bad).encode(), "kv_len/aux_len must have 30 entries"),
        "oversized": (b" " * (21 * 1024 * 1024), "too large"),
    }  # fmt: skip
    for name, (data, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        with pytest.raises(AppError, match=message):
            app_client.predict(trace_file=handle_file(str(path)), api_name="/inspect_trace")
    again = app_client.predict(trace_file=handle_file(str(good)), api_name="/inspect_trace")
    assert again == info
