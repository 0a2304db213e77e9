"""Links to a run (app/links.py) and the screen check (Callbacks.screen): encode, decode, validate.

Pure functions and callbacks without a model: a link's values go through RunRequest.parse, so a bad or
hostile value is refused by name, and a trace file's inputs come back as they were exported.
"""

from __future__ import annotations

import base64
import json
import zlib
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.callbacks import CUSTOM, RECORDED, Callbacks
from app.inputs import RunRequest
from app.links import (
    MAX_PROMPT_PARAM,
    decode_prompt,
    encode_prompt,
    is_link,
    link_params,
    link_query,
    parse_link,
    prompt_digest,
    request_record,
    trace_inputs,
)
from app.serving import EMBEDDED, Limits
from app.session import App
from app.state import RunView
from app.tracefiles import export_text, load_trace_file
from tests.support.doubles import synthetic_comparison, synthetic_trace

LIMITS = Limits(max_new_tokens=32, max_prompt_tokens=4096)


@pytest.fixture(scope="module")
def app():
    return App(LIMITS, loader=lambda name: None)  # no model: nothing here runs one


def query_of(params: dict) -> dict:
    """What a page's URL gives back to the server (the query string parsed)."""
    return dict(parse_qsl(urlsplit(link_query(params)).query, keep_blank_values=True))


@pytest.mark.parametrize(
    "text", ["What is 2+2?", "ünïcødé — 日本語 ✓\n\ttabs & ?=#%", "x" * 20_000, "The grass is green. " * 800]
)
def test_a_prompt_round_trips_through_a_link(text):
    encoded = encode_prompt(text)
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    if len(encoded) <= MAX_PROMPT_PARAM:
        assert decode_prompt(encoded, 50_000) == text


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "empty"),
        ("not base64!", "not an encoded prompt"),
        ("A", "not an encoded prompt"),  # a length base64 never has
        (encode_prompt("a cut off prompt " * 40)[:-9], "cut off"),
        (base64.urlsafe_b64encode(b"\xff\xfe plain bytes").decode().rstrip("="), "not an encoded prompt"),
        ("A" * (MAX_PROMPT_PARAM + 1), "at most"),
    ],
)
def test_a_bad_prompt_value_is_refused_by_name(value, message):
    with pytest.raises(ValueError, match=message):
        decode_prompt(value, 50_000)


def test_a_small_value_cannot_unpack_into_a_huge_prompt():
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = packer.compress(b"a" * 5_000_000) + packer.flush()  # 5 MB of text in a few KB
    value = base64.urlsafe_b64encode(bomb).decode().rstrip("=")
    assert len(value) < MAX_PROMPT_PARAM
    with pytest.raises(ValueError, match="longer than this deployment accepts"):
        decode_prompt(value, 4096 * 12)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    surrogate = packer.compress(b"a lone surrogate \xed\xa0\x80") + packer.flush()  # not UTF-8
    with pytest.raises(ValueError, match="not an encoded prompt"):
        decode_prompt(base64.urlsafe_b64encode(surrogate).decode().rstrip("="), 100)


def test_an_example_is_named_and_its_inputs_come_back(app):
    ex = app.examples["Harbour notes (the answer changes)"]
    req = RunRequest.parse(
        LIMITS, ex.prompt, EMBEDDED, "paper", [[9, 0.7], [18, 0.7]], "static", 12, ex.answer, ex.name
    )
    params = link_params(req, app.examples)
    assert "prompt" not in params and params["example"] == ex.name  # named, not copied
    assert "expected" not in params and "model" not in params  # the example's answer, the embedded model
    assert len(link_query(params)) < 200
    back, run = parse_link(query_of(params), LIMITS, app.examples)
    assert run is None
    assert (back.prompt, back.example, back.expected) == (ex.prompt, ex.name, ex.answer)
    assert (back.preset, back.strategy, back.new_tokens, back.model) == ("paper", "static", 12, EMBEDDED)
    assert back.schedule == ((9, 0.7), (18, 0.7))


def test_a_pasted_prompt_travels_compressed_with_its_answer_and_run(app):
    prompt = "My own notes: the boat leaves at 7. " * 30 + "When does the boat leave?"
    req = RunRequest.parse(LIMITS, prompt, EMBEDDED, "default", None, "lazy", 8, "7", None)
    params = link_params(req, app.examples, run="ab" * 16)
    assert "example" not in params and "schedule" not in params  # no schedule given: the preset's
    back, run = parse_link(query_of(params), LIMITS, app.examples)
    assert (back.prompt, back.expected, back.new_tokens, back.schedule, run) == (
        prompt,
        "7",
        8,
        None,
        "ab" * 16,
    )
    # an example's prompt edited is the visitor's: it travels as text, the example's name does not
    ex = next(iter(app.examples.values()))
    edited = RunRequest.parse(
        LIMITS, ex.prompt + " Answer briefly.", None, "default", None, None, 4, "", ex.name
    )
    assert "prompt" in link_params(edited, app.examples) and "example" not in link_params(
        edited, app.examples
    )


def test_a_prompt_too_long_for_a_link_says_what_to_do_instead(app):
    rng = __import__("random").Random(0)
    prompt = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(12_000))  # compresses badly
    req = RunRequest.parse(LIMITS, prompt, None, "default", None, None, 4)
    with pytest.raises(ValueError, match="too long for a link.*trace file"):
        link_params(req, app.examples)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"example": "No such example"}, "example must be one of"),
        ({"example": "Pass-key retrieval", "strategy": "greedy"}, "strategy must be one of"),
        ({"example": "Pass-key retrieval", "preset": "<script>"}, "preset must be one of"),
        ({"example": "Pass-key retrieval", "tokens": "9999"}, r"max_new_tokens must be in \[1, 32\]"),
        ({"example": "Pass-key retrieval", "tokens": "-1"}, "max_new_tokens must be an integer"),
        ({"example": "Pass-key retrieval", "schedule": "9:0.7;drop"}, "schedule: entries are layer:keep"),
        ({"example": "Pass-key retrieval", "model": "evil/model"}, "model must be one of"),
        ({"example": "Pass-key retrieval", "run": "../../etc"}, "run must be a run's key"),
        ({"example": "Pass-key retrieval", "expected": "x" * 500}, "too long"),
        ({"example": "Pass-key retrieval", "prompt": encode_prompt("hi")}, "not both"),
        ({"preset": "default"}, "names no example"),
        ({"prompt": encode_prompt("   ")}, "prompt is empty"),
        ({"prompt": encode_prompt("x" * 60_000)}, "prompt too long"),
    ],
)
def test_bad_link_values_are_refused_by_name(app, params, message):
    with pytest.raises(ValueError, match=message):
        parse_link(params, LIMITS, app.examples)


def test_other_parameters_are_not_a_link(app):
    assert not is_link({}) and not is_link({"__theme": "dark"}) and not is_link({"run": "ab" * 16})
    assert is_link({"example": "x"}) and is_link({"tokens": "3"})
    req, _ = parse_link({"example": "Pass-key retrieval", "__theme": "dark"}, LIMITS, app.examples)
    assert req.example == "Pass-key retrieval"


def test_a_bad_link_is_a_message_on_the_page_not_a_crash(app):
    class Request:
        query_params = {"example": "Pass-key retrieval", "strategy": "'); alert(1); //"}
        session_hash = "s"

    out = Callbacks(app).open_link("", "importance", Request())
    assert set(out) == {"status"} and "could not be opened" in out["status"] and "strategy" in out["status"]
    assert "<script" not in out["status"] and "alert(1)" in out["status"]  # shown, escaped


def test_an_export_carries_its_inputs_and_loading_it_restores_them(tmp_path, app):
    prompt = "The pass key is 4821. What is the pass key?"
    req = RunRequest.parse(LIMITS, prompt, EMBEDDED, "fast", [[1, 0.5], [3, 0.5]], "random", 7, "4821", None)
    view = RunView(synthetic_trace(), "run", synthetic_comparison(), inputs=request_record(req))
    path = tmp_path / "run.json"
    path.write_text(export_text(view), encoding="utf-8")
    loaded = load_trace_file(path, examples=app.examples)
    assert loaded.inputs == request_record(req)
    cb = Callbacks(app)
    back, known, note = cb.view_request(loaded)
    assert known and note == ""
    panel = cb.panel(back)
    assert panel["prompt"] == prompt and panel["example"] == CUSTOM and panel["expected"] == "4821"
    assert (panel["preset"], panel["strategy"], panel["max_new"]) == ("fast", "random", 7)
    assert panel["schedule"] == [[1, 0.5], [3, 0.5]]
    # a hostile inputs section is checked like a Run's inputs: left out, with what was wrong
    data = json.loads(path.read_text())
    data["explorer"]["inputs"]["strategy"] = "drop tables"
    path.write_text(json.dumps(data))
    req2, _, note = cb.view_request(load_trace_file(path, examples=app.examples))
    assert req2 is None and "strategy must be one of" in note
    data["explorer"]["inputs"] = {"prompt": 5}
    path.write_text(json.dumps(data))
    assert "the file's inputs could not be read" in " ".join(load_trace_file(path).notes)


def test_a_bare_trace_fills_what_it_knows_and_empties_the_prompt(app):
    view = RunView(synthetic_trace(), "file bare.json")  # no comparison, no example, no inputs
    record = trace_inputs(view)
    assert record["prompt"] is None and record["strategy"] == view.trace.strategy
    req, known, note = Callbacks(app).view_request(view)
    assert not known and "does not hold its prompt" in note
    assert Callbacks(app).panel(req, known)["prompt"] == ""


def test_the_screen_says_whose_results_it_shows(app):
    """Results of another prompt are marked; the Strategies table of another prompt goes; a prompt that
    runs now is not marked (what comes is its)."""
    cb = Callbacks(app)
    name = "Pass-key retrieval"
    ex = app.examples[name]
    key = RECORDED + name
    assert cb.screen(ex.prompt, key, prompt_digest(ex.prompt)) == {"stale_note": ""}
    out = cb.screen("another prompt", key, prompt_digest(ex.prompt))
    assert "From a previous prompt" in out["stale_note"] and name in out["stale_note"]
    assert out["table"] == [] and out["table_prompt"] is None
    assert "another prompt" in out["table_plot"].layout.annotations[0].text
    assert "table" not in cb.screen("another prompt", key, None)  # an empty table stays empty
    assert cb.screen(ex.prompt, None, None) == {"stale_note": ""}  # a new page: the start example

    class Request:
        session_hash = "s-running"

    cb.running["s-running"] = prompt_digest("another prompt")
    assert cb.screen("another prompt", key, None, Request()) == {"stale_note": ""}
    gone = cb.screen("another prompt", "0" * 32, None)  # a run the server no longer holds
    assert "stale_note" not in gone


def test_a_run_pressed_before_the_picked_example_arrived_runs_the_example(app):
    cb = Callbacks(app)
    passkey, harbour = app.examples["Pass-key retrieval"], app.examples["Harbour notes (the answer changes)"]
    # the selector says Harbour notes, the prompt box still holds the pass-key example's prompt
    req = cb.picked(passkey.prompt, harbour.name)
    assert req is not None and (req.prompt, req.example, req.preset) == (
        harbour.prompt,
        harbour.name,
        "paper",
    )
    assert cb.picked(harbour.prompt, harbour.name) is None  # arrived
    assert cb.picked("my own prompt", harbour.name) is None  # the visitor's own: it runs
    assert cb.picked(passkey.prompt, CUSTOM) is None


def test_the_link_button_writes_the_query_or_says_why_not(app):
    cb = Callbacks(app)
    prompt = "The gate code is 3141. What is the gate code?"
    out = cb.share(prompt, EMBEDDED, "default", [[12, 0.4], [18, 0.4]], "static", 4, "", CUSTOM, None)
    assert (
        out["link"].startswith("?prompt=") and "strategy=static" in out["link"] and "tokens=4" in out["link"]
    )
    # the run on screen is named when it is of these inputs' prompt and the server holds it
    req = RunRequest.parse(LIMITS, prompt, EMBEDDED, "default", None, "static", 4)
    key = app.views.put(RunView(synthetic_trace(), "run", inputs=request_record(req)))
    assert f"run={key}" in cb.share(prompt, EMBEDDED, "default", None, "static", 4, "", CUSTOM, key)["link"]
    assert "run=" not in cb.share("another", EMBEDDED, "default", None, "static", 4, "", CUSTOM, key)["link"]
    rng = __import__("random").Random(1)
    noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(12_000))
    refused = cb.share(noise, EMBEDDED, "default", None, "lazy", 4, "", CUSTOM, None)
    assert refused["link"] == "" and "too long for a link" in refused["status"]
    assert "prompt is empty" in cb.share("", EMBEDDED, "default", None, "lazy", 4, "", CUSTOM, None)["status"]


def test_a_file_from_another_deployment_restores_what_this_one_offers(app):
    """A model this deployment does not offer, more new tokens than it allows, an example it does not
    have: the rest is restored, and the note says what was changed."""
    inputs = dict(prompt="What is 2+2?", example="An example elsewhere", expected="4", model="other/model")
    inputs.update(preset="default", schedule=None, strategy="random", new_tokens=500)
    req, known, note = Callbacks(app).view_request(RunView(synthetic_trace(), "file x.json", inputs=inputs))
    assert known and (req.prompt, req.example, req.model, req.strategy) == (
        "What is 2+2?",
        None,
        EMBEDDED,
        "random",
    )
    assert req.new_tokens == LIMITS.max_new_tokens
    assert "not offered here" in note and f"at most {LIMITS.max_new_tokens}" in note
