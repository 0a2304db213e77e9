"""Bad input through the launched app (`python app.py`): bad input on the named endpoints gets a clear
message, the model stays in service (a valid run afterwards gives the same result as before), bad
trace files are refused with messages, and a model outside the allowlist is refused before loading.

Complements tests/e2e/test_app_client.py (which tries the most common bad inputs on the default
limits): here the deployment limits are set by environment variables (the shared server of
tests/e2e/conftest.py, limits in tests/support/app_server.py) and the rest of the catalogue is tried.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from lazyllm.model import GEMMA_PACKAGE, package_folder
from tests.support.app_server import MAX_NEW, MAX_PROMPT, ROOT
from tests.support.gradio_events import (
    VALID,
    api_error,
    app_config,
    call_event,
    event_id,
    raw_upload,
    run,
    said,
    ui_run,
)

SAME = (  # what a run returns that does not depend on wall-clock time
    "baseline_text",
    "lazy_text",
    "compute_fraction",
    "prompt_tokens_used_fraction",
    "token_agreement",
    "first_divergence",
    "top1_per_step",
    "baseline_new_tokens",
    "lazy_new_tokens",
    "config",
    "prompt_tokens",
)


@pytest.fixture(scope="module")
def first_result(shared_client):
    """A valid run before any bad input (it also loads the model)."""
    return run(shared_client)


# Inputs to /run, each with (a regex of) the message that must name the problem. Cheap for the
# server: all of them are refused before any model work.
FORM = r"schedule: entries are layer:keep with ASCII digits, comma-separated \(e\.g\. 9:0\.7, 19:0\.7\); refused "
BAD_RUNS = [
    (dict(prompt=""), "prompt is empty"),
    (dict(prompt="\u3000 \n\t\r "), "prompt is empty"),  # ideographic space and friends
    (dict(prompt=None), "prompt is empty"),
    (dict(prompt="x" * 100_000), rf"prompt too long: \d+ tokens; this deployment accepts up to {MAX_PROMPT}"),
    (dict(prompt="hello world. " * 2800), "exceed the model's context of 8192 tokens"),
    # the parser takes exactly the documented form: what is not `digits:decimal` is quoted back
    (dict(schedule="9:nan"), FORM + "'9:nan'"),
    (dict(schedule="9:-0.5"), FORM + "'9:-0.5'"),
    (dict(schedule="9:0"), r"schedule: keep fraction must be in \(0, 1\], got 0"),
    (dict(schedule="9:1.5"), r"schedule: keep fraction must be in \(0, 1\], got 1.5"),
    (dict(schedule="9:inf"), FORM + "'9:inf'"),
    (dict(schedule="-1:0.5"), FORM + "'-1:0.5'"),
    (dict(schedule="29:0.5"), r"layer 29 out of range: this model has 30 layers, .* \[0, 28\]"),
    (dict(schedule="1000000:0.5"), FORM + "'1000000:0.5'"),  # over 6 digits: not a layer of any model
    (dict(schedule="18:0.5, 9:0.5"), r"schedule: layers must be strictly increasing \(sorted, no repeats\)"),
    (dict(schedule="9:0.5, 9:0.7"), r"schedule: layers must be strictly increasing \(sorted, no repeats\)"),
    (dict(schedule="9.5:0.5"), FORM + "'9.5:0.5'"),
    (dict(schedule="9:0.5:3"), FORM + "'9:0.5:3'"),
    (dict(max_new_tokens=0), rf"max_new_tokens must be in \[1, {MAX_NEW}\], got 0"),
    (dict(max_new_tokens=-5), rf"max_new_tokens must be in \[1, {MAX_NEW}\], got -5"),
    (dict(max_new_tokens=MAX_NEW + 1), rf"max_new_tokens must be in \[1, {MAX_NEW}\], got {MAX_NEW + 1}"),
    (dict(max_new_tokens=10**9), rf"max_new_tokens must be in \[1, {MAX_NEW}\]"),
    (dict(max_new_tokens=2.5), rf"max_new_tokens must be an integer in \[1, {MAX_NEW}\], got 2.5"),
    (dict(max_new_tokens="many"), rf"max_new_tokens must be an integer in \[1, {MAX_NEW}\], got 'many'"),
    (
        dict(preset="turbo"),
        r"preset must be one of baseline, paper, default, fast, question; got 'turbo'",
    ),
    (dict(preset="Default"), "preset must be one of .*; got 'Default'"),
    (dict(strategy="fastest"), "strategy must be one of lazy, static, random; got 'fastest'"),
    (dict(strategy="LAZY"), "strategy must be one of lazy, static, random; got 'LAZY'"),
]


@pytest.mark.slow
def test_bad_inputs_get_clear_messages_and_the_model_stays_in_service(
    shared_server, shared_client, first_result
):
    from gradio_client.exceptions import AppError

    for kw, message in BAD_RUNS:
        t0 = time.monotonic()
        with pytest.raises(AppError, match=message):
            run(shared_client, timeout_s=60, **kw)
        assert time.monotonic() - t0 < 30, f"{kw!r} took too long to refuse"
    assert shared_server.alive()
    again = run(shared_client)
    for key in SAME:
        assert again[key] == first_result[key], key
    assert again["kl_per_step"] == pytest.approx(first_result["kl_per_step"], abs=1e-9)


@pytest.mark.slow
def test_odd_text_runs(shared_client, first_result):
    """Control characters, NUL, right-to-left and emoji text are a valid prompt, not an error."""
    out = run(
        shared_client,
        prompt="\x00\x07\x1b[31m ما لون السماء؟ \u202e🌤️👨\u200d👩\u200d👧 sky?",
        max_new_tokens=2,
    )
    assert out["prompt_tokens"] > 20 and out["lazy_new_tokens"] >= 1
    assert isinstance(out["lazy_text"], str) and 0 < out["compute_fraction"] < 1


@pytest.mark.slow
def test_invalid_unicode_prompt_gets_a_clear_message(shared_server, shared_client, first_result):
    """A lone surrogate ("\\ud800" in the request JSON, what broken UTF-16 from a browser gives) must be
    refused with a message naming the prompt, not an anonymous error (the tokenizer raises TypeError)."""
    fn = event_id(shared_server.url, None, "", api_name="run")
    msg = call_event(shared_server.url, fn, ["hi \ud800 there", "default", "", "lazy", 2, ""], timeout_s=60)
    assert msg["success"] is False
    assert re.search("prompt is not valid Unicode text", said(msg)), msg["output"]
    assert shared_server.alive()


@pytest.mark.slow
def test_model_outside_the_allowlist_is_refused_before_loading(shared_server, first_result):
    """The UI's Run event called directly (as a crafted request would) with models not offered."""
    config = app_config(shared_server.url)
    comps = {c["id"]: c for c in config["components"]}
    model_dd = next(c for c in comps.values() if c.get("props", {}).get("elem_id") == "lz-model")
    offered = [v for _, v in model_dd["props"]["choices"]]
    optional = ["gemma3-270m"] if package_folder(GEMMA_PACKAGE) else []  # offered where installed
    assert offered == [
        "SmolLM2-135M-Instruct (embedded)",
        *optional,
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "Qwen/Qwen2.5-0.5B-Instruct",
    ]
    button = next(i for i, c in comps.items() if c.get("props", {}).get("elem_id") == "lz-run")
    run_dep = next(d for d in config["dependencies"] if [button, "click"] in d["targets"])
    assert run_dep["inputs"][1] == model_dd["id"]  # (prompt, model, preset, ...)
    assert [c["props"].get("elem_id") for c in map(comps.get, run_dep["inputs"])] == [
        f"lz-{name}" for name in ("prompt", "model", "preset", "schedule", "strategy", "max-new", "expected",
                                  "example", "focus", "mode")
    ]  # fmt: skip
    for name in ("evil/model", "../../../../etc", "/tmp", "gpt2"):
        msg = call_event(
            shared_server.url, run_dep["id"], ui_run(VALID["prompt"], model=name, max_new=2), timeout_s=60
        )
        answer = said(msg)  # gradio's choice check, or the app's own allowlist message
        assert name in answer and ("not in the list of choices" in answer or "allowlist" in answer), answer
    assert not list(shared_server.hf_home.rglob("models--*")), "something was fetched from the hub"
    assert "failed to load" not in shared_server.log_text()


def _trace_cases() -> dict[str, tuple[bytes, str]]:
    """Bad trace files, each with the message it must get."""
    good = sorted((ROOT / "assets" / "traces").glob("*.json"))[0].read_text()
    assert '"tokens":[' in good  # compact JSON, as the app exports it
    d = json.loads(good)
    nan_len = json.loads(good)
    nan_len["steps"][0]["kv_len"] = [float("nan")] * d["num_layers"]
    bad_key = json.loads(good)
    bad_key["steps"][0]["scores"] = {"x": [1.0]}
    return {
        "empty": (b"", "not valid JSON"),
        "array": (b"[1, 2, 3]", "must hold a JSON object"),
        "missing": (
            json.dumps({k: v for k, v in d.items() if k != "steps"}).encode(),
            "missing the field 'steps'",
        ),
        "negative": (json.dumps({**d, "prompt_len": -5}).encode(), r"prompt_len must be >= 1, got 30 and -5"),
        "null tokens": (json.dumps({**d, "tokens": None}).encode(), "tokens and steps must be lists"),
        "nan lengths": (json.dumps(nan_len).encode(), r"steps\[0\]\.kv_len must be a list of integers"),
        "bad layer key": (
            json.dumps(bad_key).encode(),
            r"steps\[0\]\.scores has a key that is not a layer index: 'x'",
        ),
        "utf-16": (good.encode("utf-16"), "not valid UTF-8"),
        "latin-1 byte": (good.encode().replace(b'"tokens":[', b'"tokens":["caf\xe9",', 1), "not valid UTF-8"),
    }


def _inspect(shared_client, path: Path, timeout_s: float = 60.0):
    from gradio_client import handle_file

    return shared_client.submit(trace_file=handle_file(str(path)), api_name="/inspect_trace").result(
        timeout=timeout_s
    )


@pytest.mark.slow
def test_trace_endpoint_refuses_bad_files_with_messages(shared_server, shared_client, tmp_path):
    from gradio_client.exceptions import AppError

    good = sorted((ROOT / "assets" / "traces").glob("*.json"))[0]
    info = _inspect(shared_client, good)
    for name, (data, message) in _trace_cases().items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_bytes(data)
        with pytest.raises(AppError) as e:
            _inspect(shared_client, path)
        assert re.search(message, api_error(e.value)), (name, str(e.value)[:300])
    huge = tmp_path / "over_the_upload_limit.json"  # over the app's max_file_size (30 MB)
    with open(huge, "wb") as f:
        f.truncate(31 * 1024 * 1024)
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # gradio_client's own check
        _inspect(shared_client, huge)
    assert raw_upload(shared_server.url, "big.json", huge.read_bytes()) == 413  # and the server's, without it
    assert shared_server.alive()
    assert _inspect(shared_client, good) == info


@pytest.mark.slow
def test_trace_endpoint_names_pathological_json(shared_server, shared_client, tmp_path):
    """Deep nesting (RecursionError) and numbers beyond int64 (OverflowError) must be messages too."""
    from gradio_client.exceptions import AppError

    good = json.loads(sorted((ROOT / "assets" / "traces").glob("*.json"))[0].read_text())
    huge_int = json.loads(json.dumps(good))
    huge_int["steps"][1]["depth"][0] = 10**30
    inf_layers = json.dumps(good).replace(f'"num_layers": {good["num_layers"]}', '"num_layers": 1e400', 1)
    cases = {  # name: (file, what the message must say)
        "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
        "1e400 layers": (inf_layers.encode(), r"num_layers must be an integer, got inf"),
        "huge integer": (json.dumps(huge_int).encode(), r"steps\[1\]\.depth must be a list of integers"),
    }
    failures = []
    for name, (data, message) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_bytes(data)
        try:
            _inspect(shared_client, path)
            failures.append(f"{name}: accepted")
        except AppError as e:
            if not re.search(message, str(e)):
                failures.append(f"{name}: unclear message {str(e)[:120]!r}")
    assert shared_server.alive()
    assert not failures, failures


@pytest.mark.slow
def test_after_everything_a_valid_run_gives_the_same_result(shared_server, shared_client, first_result):
    assert shared_server.alive()
    again = run(shared_client)
    assert {k: again[k] for k in SAME} == {k: first_result[k] for k in SAME}
