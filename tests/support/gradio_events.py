"""Calling the launched app's events the way the browser does (also the private ones, which
gradio_client refuses), reading what they answered, and uploading files as a browser would."""

from __future__ import annotations

import html
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

VALID = dict(prompt="What colour is the sky on a clear day? Answer in one word.", max_new_tokens=3)


def join_queue(url: str, body: str) -> str:
    """Join Gradio's queue with a request body (JSON text); return the event_id it was given."""
    req = urllib.request.Request(
        url + "gradio_api/queue/join", body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        answer = json.loads(r.read())
    assert "event_id" in answer, answer
    return answer["event_id"]


def queue_messages(url: str, session: str, timeout_s: float) -> Iterator[dict]:
    """The messages of a browser session's event stream, as Gradio sends them (until it closes it)."""
    with urllib.request.urlopen(
        url + f"gradio_api/queue/data?session_hash={session}", timeout=timeout_s
    ) as r:
        for raw_line in r:
            line = raw_line.decode("utf-8", "replace").strip()
            if line.startswith("data:"):
                yield json.loads(line[5:])


def call_event(
    url: str,
    fn_index: int,
    data: list | None,
    timeout_s: float = 120.0,
    session: str | None = None,
    raw: str | None = None,
) -> dict:
    """Call an event by fn_index the way the browser does (also the private ones, which gradio_client
    refuses); return gradio's final `process_completed` message. `session`: the browser session (a new
    one by default); `raw`: the request's data as JSON text (for what json.dumps cannot write, e.g. 1e400).
    """
    session = session or uuid.uuid4().hex
    payload = raw if raw is not None else json.dumps(data)
    body = (
        f'{{"data": {payload}, "fn_index": {int(fn_index)}, "session_hash": "{session}", "event_data": null}}'
    )
    join_queue(url, body)
    deadline = time.monotonic() + timeout_s
    for msg in queue_messages(url, session, timeout_s):
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
    d = dict(
        model=EMBEDDED,
        preset="default",
        schedule=[[9, 0.7]],
        strategy="lazy",
        max_new=2,
        expected="",
        example="custom",
        focus="",
        mode="importance",
    )
    d.update(kw)
    table = d["schedule"]
    if isinstance(table, list):
        table = {"headers": ["prune after layer", "keep fraction"], "data": table, "metadata": None}
    return [
        prompt,
        d["model"],
        d["preset"],
        table,
        d["strategy"],
        d["max_new"],
        d["expected"],
        d["example"],
        d["focus"],
        d["mode"],
    ]


def run(client, timeout_s: float = 180.0, **kw) -> dict:
    """/run with VALID's prompt and length unless given; bounded in time."""
    return client.submit(**{**VALID, **kw}, api_name="/run").result(timeout=timeout_s)
