"""Issues 5 and 11 through the launched app (`python app.py`): bad input on the named endpoints gets a clear
message, the model stays in service (a valid run afterwards gives the same result as before), bad
trace files are refused with messages, and a model outside the allowlist is refused before loading.

Complements tests/e2e/test_app_client.py (which tries the most common bad inputs on the default
limits): here the deployment limits are set by environment variables and the rest of the catalogue
is tried. The server (`shared_server`) is shared with tests/e2e/test_load.py,
tests/e2e/test_attacks_issue11.py and tests/e2e/test_attacks_memory.py, which also use the helpers
below (`call_event` calls any event the way the browser does; `event_id` finds it by the component and
trigger, as event ids change with the layout).
"""

from __future__ import annotations

import atexit
import functools
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_NEW = 8  # LAZYLLM_MAX_NEW_TOKENS of the server below
MAX_PROMPT = 9000  # LAZYLLM_MAX_PROMPT_TOKENS: above the model's 8192 context, so the runtime's check shows
MAX_QUEUE = 8  # LAZYLLM_MAX_QUEUE: runs that may wait for the one run slot (LAZYLLM_CONCURRENCY=1)
VIEW_MEMORY_MB = 64  # LAZYLLM_VIEW_MEMORY_MB: the views all sessions explore, together
VALID = dict(prompt="What colour is the sky on a clear day? Answer in one word.", max_new_tokens=3)
SAME = (  # what a run returns that does not depend on wall-clock time
    "baseline_text", "lazy_text", "compute_fraction", "prompt_tokens_used_fraction", "token_agreement",
    "first_divergence", "top1_per_step", "baseline_new_tokens", "lazy_new_tokens", "config", "prompt_tokens",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`python app.py` on 127.0.0.1 and a free port, with extra environment; stopped by pid."""

    def __init__(self, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.hf_home = Path(tempfile.mkdtemp(prefix="lazyllm-hf-"))
        limits = ("LAZYLLM_ALLOWED_MODELS", "LAZYLLM_CONCURRENCY", "LAZYLLM_GRADIO_QUEUE", "LAZYLLM_MAX_")
        self.env = {  # the app's defaults unless given here, whatever this shell has set
            **{k: v for k, v in os.environ.items() if not k.startswith(limits)},
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "HF_HOME": str(self.hf_home),  # an empty hub cache: shows whether anything was fetched
            **env,
        }
        self.log = tempfile.NamedTemporaryFile("w+", prefix="lazyllm-app-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def start(self, timeout_s: float = 150.0) -> AppServer:
        self.proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"app.py did not start within {timeout_s:.0f} s: {self.log_text()[-2000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
        shutil.rmtree(self.hf_home, ignore_errors=True)


def call_event(url: str, fn_index: int, data: list | None, timeout_s: float = 120.0, session: str | None = None,
               raw: str | None = None) -> dict:  # fmt: skip
    """Call an event by fn_index the way the browser does (also the private ones, which gradio_client
    refuses); return gradio's final `process_completed` message. `session`: the browser session (a new
    one by default); `raw`: the request's data as JSON text (for what json.dumps cannot write, e.g. 1e400).
    """
    session = session or uuid.uuid4().hex
    payload = raw if raw is not None else json.dumps(data)
    body = (
        f'{{"data": {payload}, "fn_index": {int(fn_index)}, "session_hash": "{session}", "event_data": null}}'
    )
    req = urllib.request.Request(
        url + "gradio_api/queue/join", body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        assert "event_id" in json.loads(r.read())
    deadline = time.monotonic() + timeout_s
    with urllib.request.urlopen(
        url + f"gradio_api/queue/data?session_hash={session}", timeout=timeout_s
    ) as r:
        for raw_line in r:
            line = raw_line.decode("utf-8", "replace").strip()
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return msg
            if time.monotonic() > deadline:
                break
    raise TimeoutError(f"no answer from fn_index {fn_index} within {timeout_s} s")


GENERIC = "verbose error reporting"  # gradio_client's words for an error the app gave no message for


def api_error(error: Exception) -> str:
    """An AppError's message as text. gr.Error messages are HTML (the page renders them in its error
    toast), so the app escapes what it quotes and an API client reads `&lt;` for `<`."""
    return html.unescape(str(error))


def said(msg: dict) -> str:
    """What an event answered: the error message (refused by Gradio or by a gr.Error), or the app's
    status line (a callback's refusal is an error status, the event itself succeeds). Asserts that
    there is a message: never `error: null`, never the generic error."""
    out = msg.get("output") or {}
    if not msg.get("success"):
        error = out.get("error")
        assert isinstance(error, str) and error.strip(), f"an error with no message: {out}"
        assert GENERIC not in error
        return html.unescape(error)
    status = [v for v in out.get("data", []) if isinstance(v, str) and 'class="lz-status' in v]
    return html.unescape(re.sub(r"<[^>]+>", "", status[-1])) if status else ""


def event_id(url: str, elem_id: str | None, trigger: str, api_name: str | None = None) -> int:
    """The fn_index of the event `trigger` of the component `elem_id` (or of the API `api_name`)."""
    config = app_config(url)
    if api_name is not None:
        return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    comp = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    return next(d["id"] for d in config["dependencies"] if [comp, trigger] in d["targets"])


def raw_upload(url: str, name: str, data: bytes) -> int:
    """POST a file to gradio's upload route as a browser would; return the HTTP status."""
    return _upload(url, name, data)[0]


def upload(url: str, name: str, data: bytes) -> dict:
    """Upload a file as the browser does; return the FileData the upload event takes."""
    status, paths = _upload(url, name, data)
    assert status == 200, status
    return {"path": paths[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def _upload(url: str, name: str, data: bytes) -> tuple[int, list]:
    boundary = uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n'
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    ctype = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    req = urllib.request.Request(url + "gradio_api/upload", body, ctype)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, []


def app_config(url: str) -> dict:
    with urllib.request.urlopen(url + "config", timeout=10) as r:
        return json.loads(r.read())


EMBEDDED = "SmolLM2-135M-Instruct (embedded)"


def ui_run(prompt: str, **kw) -> list:
    """The data of the UI's Run event: (prompt, model, preset, schedule, strategy, max_new, expected,
    example, focus, mode); the schedule a table of rows [[layer, keep], ...] (default: 9:0.7)."""
    d = dict(model=EMBEDDED, preset="default", schedule=[[9, 0.7]], strategy="lazy", max_new=2, expected="",
             example="custom", focus="", mode="importance")  # fmt: skip
    d.update(kw)
    table = d["schedule"]
    if isinstance(table, list):
        table = {"headers": ["prune after layer", "keep fraction"], "data": table, "metadata": None}
    return [prompt, d["model"], d["preset"], table, d["strategy"], d["max_new"], d["expected"], d["example"],
            d["focus"], d["mode"]]  # fmt: skip


def run(client, timeout_s: float = 180.0, **kw) -> dict:
    """/run with VALID's prompt and length unless given; bounded in time."""
    return client.submit(**{**VALID, **kw}, api_name="/run").result(timeout=timeout_s)


class PeakRSS:
    """Samples a process's resident memory every `every_s` seconds until stopped."""

    def __init__(self, pid: int, every_s: float = 0.05):
        import psutil

        self.proc, self.every_s = psutil.Process(pid), every_s
        self.peak = self.start_rss = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        import psutil

        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(self.every_s)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


@functools.cache
def shared_server() -> AppServer:
    """One server for the tests/e2e files that attack the app (started once, stopped at exit)."""
    srv = AppServer(
        LAZYLLM_MAX_NEW_TOKENS=str(MAX_NEW),
        LAZYLLM_MAX_PROMPT_TOKENS=str(MAX_PROMPT),
        LAZYLLM_CONCURRENCY="1",
        LAZYLLM_MAX_QUEUE=str(MAX_QUEUE),
        LAZYLLM_VIEW_MEMORY_MB=str(VIEW_MEMORY_MB),
    )
    atexit.register(srv.stop)
    return srv.start()


@pytest.fixture(scope="module")
def server():
    return shared_server()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


@pytest.fixture(scope="module")
def first_result(client):
    """A valid run before any bad input (it also loads the model)."""
    return run(client)


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
def test_bad_inputs_get_clear_messages_and_the_model_stays_in_service(server, client, first_result):
    from gradio_client.exceptions import AppError

    for kw, message in BAD_RUNS:
        t0 = time.monotonic()
        with pytest.raises(AppError, match=message):
            run(client, timeout_s=60, **kw)
        assert time.monotonic() - t0 < 30, f"{kw!r} took too long to refuse"
    assert server.alive()
    again = run(client)
    for key in SAME:
        assert again[key] == first_result[key], key
    assert again["kl_per_step"] == pytest.approx(first_result["kl_per_step"], abs=1e-9)


@pytest.mark.slow
def test_odd_text_runs(client, first_result):
    """Control characters, NUL, right-to-left and emoji text are a valid prompt, not an error."""
    out = run(
        client, prompt="\x00\x07\x1b[31m ما لون السماء؟ \u202e🌤️👨\u200d👩\u200d👧 sky?", max_new_tokens=2
    )
    assert out["prompt_tokens"] > 20 and out["lazy_new_tokens"] >= 1
    assert isinstance(out["lazy_text"], str) and 0 < out["compute_fraction"] < 1


@pytest.mark.slow
def test_invalid_unicode_prompt_gets_a_clear_message(server, client, first_result):
    """A lone surrogate ("\\ud800" in the request JSON, what broken UTF-16 from a browser gives) must be
    refused with a message naming the prompt, not an anonymous error (the tokenizer raises TypeError)."""
    fn = event_id(server.url, None, "", api_name="run")
    msg = call_event(server.url, fn, ["hi \ud800 there", "default", "", "lazy", 2, ""], timeout_s=60)
    assert msg["success"] is False
    assert re.search("prompt is not valid Unicode text", said(msg)), msg["output"]
    assert server.alive()


@pytest.mark.slow
def test_model_outside_the_allowlist_is_refused_before_loading(server, first_result):
    """The UI's Run event called directly (as a crafted request would) with models not offered."""
    config = app_config(server.url)
    comps = {c["id"]: c for c in config["components"]}
    model_dd = next(c for c in comps.values() if c.get("props", {}).get("elem_id") == "lz-model")
    offered = [v for _, v in model_dd["props"]["choices"]]
    assert offered == [
        "SmolLM2-135M-Instruct (embedded)",
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
            server.url, run_dep["id"], ui_run(VALID["prompt"], model=name, max_new=2), timeout_s=60
        )
        answer = said(msg)  # gradio's choice check, or the app's own allowlist message
        assert name in answer and ("not in the list of choices" in answer or "allowlist" in answer), answer
    assert not list(server.hf_home.rglob("models--*")), "something was fetched from the hub"
    assert "failed to load" not in server.log_text()


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


def _inspect(client, path: Path, timeout_s: float = 60.0):
    from gradio_client import handle_file

    return client.submit(trace_file=handle_file(str(path)), api_name="/inspect_trace").result(
        timeout=timeout_s
    )


@pytest.mark.slow
def test_trace_endpoint_refuses_bad_files_with_messages(server, client, tmp_path):
    from gradio_client.exceptions import AppError

    good = sorted((ROOT / "assets" / "traces").glob("*.json"))[0]
    info = _inspect(client, good)
    for name, (data, message) in _trace_cases().items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_bytes(data)
        with pytest.raises(AppError) as e:
            _inspect(client, path)
        assert re.search(message, api_error(e.value)), (name, str(e.value)[:300])
    huge = tmp_path / "over_the_upload_limit.json"  # over the app's max_file_size (30 MB)
    with open(huge, "wb") as f:
        f.truncate(31 * 1024 * 1024)
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # gradio_client's own check
        _inspect(client, huge)
    assert raw_upload(server.url, "big.json", huge.read_bytes()) == 413  # and the server's, without it
    assert server.alive()
    assert _inspect(client, good) == info


@pytest.mark.slow
def test_trace_endpoint_names_pathological_json(server, client, tmp_path):
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
            _inspect(client, path)
            failures.append(f"{name}: accepted")
        except AppError as e:
            if not re.search(message, str(e)):
                failures.append(f"{name}: unclear message {str(e)[:120]!r}")
    assert server.alive()
    assert not failures, failures


@pytest.mark.slow
def test_after_everything_a_valid_run_gives_the_same_result(server, client, first_result):
    assert server.alive()
    again = run(client)
    assert {k: again[k] for k in SAME} == {k: first_result[k] for k in SAME}
