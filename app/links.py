"""A link to a run: the run panel's inputs as URL query parameters, and back (validated like a Run).

`?example=Pass-key+retrieval&preset=default&schedule=12:0.4,18:0.4&strategy=lazy&tokens=24` reopens
the page with those inputs. A committed example is named, not copied; a prompt of the visitor's own
travels compressed (`prompt=`: raw DEFLATE, base64url) up to MAX_PROMPT_PARAM characters, and a
longer one gets a message saying how to share it instead. `run=` names a run the server may still
hold (its ViewStore key): the link then shows that run too.

Every value a link (or a trace file's "inputs" section) brings in passes through `RunRequest.parse`,
the same checks as a Run's widgets: a bad or hostile value is a ValueError that names the field.
Inputs travel as a *record*, a JSON-ready dict of RunRequest's fields (request_record); a trace file
stores the same record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Mapping
from dataclasses import asdict, replace
from urllib.parse import urlencode

from app.inputs import RunRequest, check_choice
from app.serving import EMBEDDED, Limits
from app.state import Example, RunView
from lazyllm.config import PRESETS, format_schedule, parse_schedule, quote

LINK_KEYS = ("example", "prompt", "expected", "model", "preset", "schedule", "strategy", "tokens", "run")
MAX_PROMPT_PARAM = 8000  # characters of an encoded prompt in a link (browsers and proxies cut beyond ~8 KB)
MAX_PARAM = 200  # characters of any other link value
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_RUN_KEY = re.compile(r"[0-9a-f]{32}")


def prompt_digest(prompt: str | None) -> str | None:
    """A short fingerprint of a prompt: what the page remembers its Strategies table was run on."""
    if prompt is None:
        return None
    return hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# --- the prompt in a link -------------------------------------------------------------------------


def encode_prompt(text: str) -> str:
    """UTF-8, raw DEFLATE, base64url without padding: the prompt as one URL-safe value."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packer.compress(text.encode("utf-8")) + packer.flush()
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode_prompt(value: str, max_chars: int) -> str:
    """encode_prompt's inverse; ValueError for anything else (cut off, not base64url, over max_chars).
    Decompression stops at max_chars * 4 bytes: a small value cannot unpack into a huge prompt."""
    if not isinstance(value, str) or not value:
        raise ValueError("link: prompt is empty")
    if len(value) > MAX_PROMPT_PARAM:
        raise ValueError(
            f"link: prompt is {len(value)} characters long (a link holds at most {MAX_PROMPT_PARAM})"
        )
    if not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise ValueError("link: prompt is not an encoded prompt (the link may be cut off)")
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        unpacker = zlib.decompressobj(-15)
        raw = unpacker.decompress(data, max_chars * 4 + 1)
        if len(raw) > max_chars * 4 or unpacker.unconsumed_tail:
            raise ValueError(f"link: prompt is longer than this deployment accepts ({max_chars} characters)")
        if not unpacker.eof:
            raise ValueError("link: prompt is cut off (the link is incomplete)")
        return raw.decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError):
        raise ValueError("link: prompt is not an encoded prompt (the link may be cut off)") from None


# --- records: the inputs as plain data ------------------------------------------------------------


def schedule_text(schedule) -> str | None:
    """A RunRequest's schedule as text: None (the preset's), "none" (prune nothing) or "9:0.7, 19:0.7"."""
    if schedule is None or isinstance(schedule, str):
        return schedule
    return format_schedule(schedule)


def request_record(req: RunRequest) -> dict:
    """The inputs of a request as JSON-ready data (what a trace file and a link carry)."""
    return {**asdict(req), "schedule": schedule_text(req.schedule)}  # every field: the inputs


def trace_inputs(view: RunView) -> dict:
    """The inputs of a view that carries none (a recorded example, an older export, a bare trace),
    read from its trace: the example's prompt (None when no example is named: the file does not hold
    the prompt's text), the preset (a custom config's base, with its schedule), strategy, model and
    the number of new tokens the baseline took (else the steps the trace holds)."""
    t, ex = view.trace, view.example
    base = re.match(r"custom \((\w+) with", t.config_label or "")
    named = t.config_name in PRESETS
    preset = t.config_name if named else (base.group(1) if base and base.group(1) in PRESETS else "default")
    c = view.comparison
    return dict(
        prompt=ex.prompt if ex is not None else None,
        example=ex.name if ex is not None else None,
        expected=view.expected,
        model=None if "embedded" in (t.model or "").lower() else t.model or None,
        preset=preset,
        schedule=None if named else format_schedule(t.schedule),
        strategy=t.strategy,
        new_tokens=max(t.num_steps, len(c.baseline_tokens) if c is not None else 0),
    )


def request_from_record(record: Mapping, limits: Limits, examples: Mapping[str, Example]) -> RunRequest:
    """A record (a link's or a file's) as a RunRequest, through RunRequest.parse and this deployment's
    models, examples and limits. An example named with no prompt stands for the example's prompt; an
    example whose prompt is not the one given is dropped (the prompt is the visitor's own)."""
    if not isinstance(record, Mapping):
        raise ValueError(f"inputs must be an object, got {quote(record)}")
    name, prompt = record.get("example"), record.get("prompt")
    if name is not None:
        check_choice("example", name, list(examples))
        if prompt is None:
            prompt = examples[name].prompt
        elif prompt != examples[name].prompt:
            name = None
    model = record.get("model") or EMBEDDED
    check_choice("model", model, limits.model_choices())
    schedule = record.get("schedule")
    schedule = "" if schedule == "none" else schedule  # "none": prune nothing (an empty schedule)
    req = RunRequest.parse(
        limits,
        prompt,
        model,
        record.get("preset"),
        None if schedule is None else _schedule_rows(schedule),
        record.get("strategy"),
        record.get("new_tokens"),
        record.get("expected") or "",
        name,
    )
    if name is not None and not record.get("expected"):  # the example's answer comes with its prompt
        req = replace(req, expected=examples[name].answer)
    return req


def _schedule_rows(text):
    """Schedule text -> pairs (an empty text: prune nothing); lazyllm's parser says what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"schedule must be text like 9:0.7, 19:0.7; got {quote(text)}")
    return parse_schedule(text)


# --- links ----------------------------------------------------------------------------------------


def link_params(req: RunRequest, examples: Mapping[str, Example], run: str | None = None) -> dict[str, str]:
    """The query parameters of a link to `req` (and to the run kept under `run`).

    An unedited example is named; another prompt is encoded (ValueError past MAX_PROMPT_PARAM). The
    expected answer is left out where it is the example's; the model where it is the embedded one."""
    ex = examples.get(req.example) if req.example else None
    named = ex is not None and ex.prompt == req.prompt
    params: dict[str, str] = {}
    if named:
        params["example"] = ex.name
    else:
        encoded = encode_prompt(req.prompt)
        if len(encoded) > MAX_PROMPT_PARAM:
            raise ValueError(
                f"This prompt is too long for a link ({len(encoded)} characters compressed; a link holds "
                f"{MAX_PROMPT_PARAM}): share its trace file (Trace files tab) instead."
            )
        params["prompt"] = encoded
    if req.expected and not (named and req.expected == ex.answer):
        params["expected"] = req.expected
    if req.model and req.model != EMBEDDED:
        params["model"] = req.model
    params["preset"] = req.preset
    schedule = schedule_text(req.schedule)
    if schedule is not None:
        params["schedule"] = schedule.replace(" ", "")  # "none", or pairs
    params["strategy"] = req.strategy or "lazy"
    params["tokens"] = str(req.new_tokens)
    if run is not None:
        params["run"] = run
    return params


def link_query(params: Mapping[str, str]) -> str:
    """The query string of a link ("?example=...&..."): relative, so it opens on whatever host serves
    the page (a Space, a proxy)."""
    return "?" + urlencode(params, safe=":,")


def is_link(params: Mapping[str, str]) -> bool:
    """Does a page's URL carry a link to a run (any of LINK_KEYS but `run` alone)?"""
    return any(k in params for k in LINK_KEYS if k != "run")


def parse_link(
    params: Mapping[str, str], limits: Limits, examples: Mapping[str, Example]
) -> tuple[RunRequest, str | None]:
    """A link's query parameters -> (the request, the run key it names, if any). Other parameters (the
    page's own, e.g. `__theme`) are ignored; every value of ours is checked (ValueError names it)."""
    for key in LINK_KEYS:
        value = params.get(key)
        if value is not None and key != "prompt" and len(value) > MAX_PARAM:
            raise ValueError(f"link: {key} is too long ({len(value)} characters; at most {MAX_PARAM})")
    if "example" in params and "prompt" in params:
        raise ValueError("link: give an example or a prompt, not both")
    if "example" not in params and "prompt" not in params:
        raise ValueError("link: it names no example and carries no prompt")
    run = params.get("run")
    if run is not None and not _RUN_KEY.fullmatch(run):
        raise ValueError(f"link: run must be a run's key (32 hex digits), got {quote(run)}")
    record = dict(
        prompt=decode_prompt(params["prompt"], limits.max_prompt_chars) if "prompt" in params else None,
        example=params.get("example"),
        expected=params.get("expected", ""),
        model=params.get("model"),
        preset=params.get("preset", "default"),
        schedule=params.get("schedule"),
        strategy=params.get("strategy", "lazy"),
        new_tokens=params.get("tokens", str(limits.default_new_tokens)),
    )
    return request_from_record(record, limits, examples), run
