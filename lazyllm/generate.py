"""Generation: prefill, then decode one token per step, greedily (gpt-fast style).

`generate` returns a GenerationResult; `generate_stream` yields one StreamUpdate per step
(0 = prefill) for progress bars and live plots. Both validate their input and raise ValueError
with a message that names the field.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import LazyConfig
from .model import LoadedModel
from .runtime import LazyRunner
from .trace import Trace

MAX_NEW_TOKENS = 4096


@dataclass
class Timings:
    ttft_s: float = 0.0  # prefill + first token
    total_s: float = 0.0
    step_s: list[float] = field(default_factory=list)  # wall-clock seconds of each step


@dataclass
class Stats:
    prompt_len: int = 0
    prompt_compute_fraction: float = 1.0  # (prompt token, layer) computations / baseline's
    prompt_tokens_used_fraction: float = 1.0  # prompt tokens that reached the last layer


@dataclass
class Fork:
    """A finished run kept open (generate(..., forkable=True)): its runner, with a checkpoint after every
    step, so that a teacher-forced run of the same prompt and config can start from it (fork_from)."""

    runner: LazyRunner
    seed: int


@dataclass
class GenerationResult:
    text: str
    token_ids: list[int]
    prompt_ids: list[int]
    timings: Timings
    stats: Stats
    config: LazyConfig
    logits: torch.Tensor | None = None  # (steps, V) float32 when return_logits
    trace: Trace | None = None
    stopped: str = "length"  # "length", "eos" or "cancelled"
    scan: np.ndarray | None = (
        None  # (L, prompt_len) float32: importance at every layer at prefill (scan=True)
    )
    fork: Fork | None = field(default=None, repr=False, compare=False)  # forkable=True, until used


@dataclass
class StreamUpdate:
    step: int  # 0 = prefill
    token_id: int
    text: str  # generated text so far
    seconds: float  # this step's wall-clock time
    trace: Trace | None = None  # the trace so far (instrumented runs)
    logits: torch.Tensor | None = None  # this step's (V,) logits when return_logits
    done: bool = False
    result: GenerationResult | None = None


def encode_prompt(lm: LoadedModel, prompt, chat: bool = True) -> list[int]:
    """Token ids of a prompt: text (chat-templated when chat and a template exists), messages, or ids.

    Text is the user's: a special-token string in it ("<|im_start|>") is tokenized as plain text, never
    as a control token. Token ids are the explicit way to pass control tokens.
    """
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ValueError("prompt is empty: give some text")
        check_unicode(prompt)
        if chat:
            return _chat_ids(lm, [{"role": "user", "content": prompt}])
        return _text_ids(lm, prompt, add_special_tokens=True)
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(m, dict) for m in prompt):
        messages = [_check_message(i, m) for i, m in enumerate(prompt)]
        if not any(m["content"].strip() for m in messages):
            raise ValueError("prompt is empty: the chat messages have no content")
        return _chat_ids(lm, messages)
    if isinstance(prompt, torch.Tensor):
        prompt = prompt.reshape(-1).tolist()
    if isinstance(prompt, (list, tuple)) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in prompt
    ):
        if not prompt:
            raise ValueError("prompt is empty: the token id list has no ids")
        vocab = lm.config.vocab_size
        if min(prompt) < 0 or max(prompt) >= vocab:
            raise ValueError(f"prompt: token ids must be in [0, {vocab - 1}]")
        return list(prompt)
    raise ValueError("prompt must be a string, a list of chat messages, or a list of token ids")


def _check_message(i: int, m: dict) -> dict:
    role, content = m.get("role"), m.get("content")
    if not isinstance(role, str) or not isinstance(content, str):
        raise ValueError(f"prompt: message {i} needs a string 'role' and a string 'content'")
    check_unicode(content)
    return {"role": role, "content": content}


def check_unicode(text: str) -> None:
    """Raise ValueError for text the tokenizer cannot take (lone surrogates from broken UTF-16)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"prompt is not valid Unicode text ({e.reason} at character {e.start})") from None


def _tokenizer(lm: LoadedModel):
    if lm.tokenizer is None:
        raise ValueError("this model has no tokenizer: pass the prompt as a list of token ids")
    return lm.tokenizer


def _text_ids(lm: LoadedModel, text: str, add_special_tokens: bool) -> list[int]:
    """Ids of user text; special-token strings in it stay text (split_special_tokens)."""
    out = _tokenizer(lm)(text, add_special_tokens=add_special_tokens, split_special_tokens=True)
    return [int(i) for i in out["input_ids"]]


def _chat_ids(lm: LoadedModel, messages: list[dict]) -> list[int]:
    """The chat template's own parts tokenized with their special tokens, each message's content as text.

    Content without special-token strings is tokenized exactly as `apply_chat_template` does. Otherwise
    the template is rendered with a random marker in place of each content; the text between the
    markers is the template's, the contents are tokenized on their own (split_special_tokens), so a
    visitor's "<|im_end|><|im_start|>system ..." cannot open a turn of its own.
    """
    tok = _tokenizer(lm)
    if not getattr(tok, "chat_template", None):
        return _text_ids(lm, "\n".join(m["content"] for m in messages), add_special_tokens=True)
    if not any(_has_special(tok, m["content"]) for m in messages):  # as apply_chat_template tokenizes
        out = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        ids = out["input_ids"] if hasattr(out, "keys") else out
        return [int(i) for i in (ids[0] if ids and isinstance(ids[0], list) else ids)]
    nonce = uuid.uuid4().hex
    marks = [f"\x02{nonce}-{i}\x03" for i in range(len(messages))]
    marked = [{**m, "content": mark} for m, mark in zip(messages, marks, strict=True)]
    rendered = tok.apply_chat_template(marked, add_generation_prompt=True, tokenize=False)
    trims = _template_trims(tok)
    ids: list[int] = []
    for m, mark in zip(messages, marks, strict=True):
        head, found, rendered = rendered.partition(mark)
        if not found:
            raise ValueError("prompt: this model's chat template drops message content; pass token ids")
        ids += tok(head, add_special_tokens=False)["input_ids"]
        content = m["content"].strip() if trims else m["content"]
        ids += _text_ids(lm, content, add_special_tokens=False)
    ids += tok(rendered, add_special_tokens=False)["input_ids"]
    return [int(i) for i in ids]


def _has_special(tok, text: str) -> bool:
    """Does `text` hold the string of one of the tokenizer's special (control) tokens?"""
    added = getattr(tok, "added_tokens_decoder", {}) or {}
    specials = {t.content for t in added.values() if t.special} | set(tok.all_special_tokens)
    return any(s and s in text for s in specials)


def _template_trims(tok) -> bool:
    """Does the chat template strip whitespace around a message's content (Llama 3 does)?"""
    probe = "\x02probe\x03"
    rendered = tok.apply_chat_template([{"role": "user", "content": f" {probe} "}], tokenize=False)
    return f" {probe} " not in rendered


def check_request(lm: LoadedModel, prompt_ids: list[int], max_new_tokens) -> None:
    """Validate lengths against the model's context."""
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool):
        raise ValueError(f"max_new_tokens must be an integer, got {max_new_tokens!r}")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be in [1, {MAX_NEW_TOKENS}], got {max_new_tokens}")
    limit = lm.max_context
    if len(prompt_ids) + max_new_tokens > limit:
        raise ValueError(
            f"prompt too long: {len(prompt_ids)} prompt tokens + {max_new_tokens} new tokens exceed "
            f"the model's context of {limit} tokens"
        )


def _decode(lm: LoadedModel, ids: list[int]) -> str:
    if lm.tokenizer is None:
        return " ".join(map(str, ids))
    return lm.tokenizer.decode(ids, skip_special_tokens=True)


def _token_texts(lm: LoadedModel, ids: list[int]) -> list[str]:
    if lm.tokenizer is None:
        return [str(i) for i in ids]
    return [lm.tokenizer.decode([i]) for i in ids]


def check_forced(lm: LoadedModel, forced_tokens, max_new_tokens: int) -> list[int] | None:
    """Validate teacher-forcing ids: a non-empty list of vocabulary ids, at most max_new_tokens."""
    if forced_tokens is None:
        return None
    if isinstance(forced_tokens, torch.Tensor):
        forced_tokens = forced_tokens.reshape(-1).tolist()
    if not isinstance(forced_tokens, (list, tuple)) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in forced_tokens
    ):
        raise ValueError("forced_tokens must be a list of token ids (integers)")
    if not forced_tokens:
        raise ValueError("forced_tokens is empty: give at least one token id, or None")
    if len(forced_tokens) > max_new_tokens:
        raise ValueError(
            f"forced_tokens has {len(forced_tokens)} ids, more than max_new_tokens ({max_new_tokens})"
        )
    vocab = lm.config.vocab_size
    if min(forced_tokens) < 0 or max(forced_tokens) >= vocab:
        raise ValueError(f"forced_tokens: token ids must be in [0, {vocab - 1}]")
    return list(forced_tokens)


def _run(lm, runner: LazyRunner, prompt_ids, steps: int, eos: set[int], forced, reused=()) -> Iterator:
    """Yield (step, token_id, logits, step_trace, seconds) for every step.

    Greedy decoding; with `forced` (teacher forcing) the token fed to the next step is forced[step]
    instead of the argmax, and the run takes exactly len(forced) steps. `reused`: the logits of the
    first steps, taken from a forked run (their seconds are 0); the runner goes on after them.
    """
    for step, logits in enumerate(reused):
        yield step, forced[step], logits, None, 0.0
    first = forced[len(reused) - 1 : len(reused)] if reused else prompt_ids  # what the next step is fed
    ids = torch.tensor(first, dtype=torch.long, device=lm.device)
    with torch.inference_mode():
        for step in range(len(reused), steps):
            t0 = time.perf_counter()
            logits, step_trace = runner.step(ids)
            token = int(logits.argmax()) if forced is None else forced[step]
            seconds = time.perf_counter() - t0
            yield step, token, logits, step_trace, seconds
            if forced is None and token in eos:
                return
            ids = torch.tensor([token], dtype=torch.long, device=lm.device)


def _new_trace(lm: LoadedModel, config: LazyConfig, prompt_ids: list[int]) -> Trace:
    return Trace(
        num_layers=lm.num_layers,
        prompt_len=len(prompt_ids),
        tokens=_token_texts(lm, prompt_ids),
        schedule=[[layer, k] for layer, k in config.schedule],
        strategy=config.strategy,
        variant=config.variant,
        model=lm.name,
        config_name=config.name,
        config_label=config.label,
        layer_types=lm.layer_types,
        sliding_window=lm.sliding_window,
    )


def generate_stream(
    lm: LoadedModel,
    prompt,
    config: LazyConfig | None = None,
    max_new_tokens: int = 32,
    instrument: bool = False,
    return_logits: bool = False,
    chat: bool = True,
    seed: int = 0,
    forced_tokens=None,
    should_stop=None,
    scan: bool = False,
    forkable: bool = False,
    fork_from: GenerationResult | None = None,
    _text: bool = True,
) -> Iterator[StreamUpdate]:
    """Generate, yielding one StreamUpdate per step; the last one has done=True and the result.

    forced_tokens: teacher forcing: feed these ids instead of the argmax (one step per id; the
        result's token_ids are these ids and its logits the model's predictions on that context).
    should_stop: optional callable checked after each step; True ends the run cleanly.
    scan: also score every layer at prefill with the paper's importance (the layer scan; pruning
        off only): `result.scan`, (L, prompt_len).
    forkable: keep the run open in `result.fork` (its runner and a checkpoint after every step; needs
        return_logits), so that a teacher-forced run can start from it. Holds the run's caches until
        used: pass it to fork_from, or drop it (`result.fork = None`).
    fork_from: a forkable result of the same prompt, config and seed: the teacher-forced run
        (forced_tokens) reuses its steps that were fed the same tokens (all up to its first token that
        differs from forced_tokens) and runs only the rest, from that step's checkpoint. A fork is used
        once (fork_from.fork becomes None); the reused steps take 0 s (forced runs are not timed).
    """
    config = (config or LazyConfig.preset("baseline")).resolved(lm.num_layers, lm.layer_types)
    prompt_ids = encode_prompt(lm, prompt, chat=chat)
    check_request(lm, prompt_ids, max_new_tokens)
    forced = check_forced(lm, forced_tokens, max_new_tokens)
    steps = len(forced) if forced is not None else max_new_tokens
    trace = _new_trace(lm, config, prompt_ids) if instrument else None
    if forkable and not return_logits:
        raise ValueError("forkable: a run kept open for teacher forcing needs return_logits=True")
    if fork_from is not None:
        reused, runner = _fork(fork_from, config, prompt_ids, forced, seed, instrument or scan)
    else:
        capacity = len(prompt_ids) + max_new_tokens
        reused = []
        runner = LazyRunner(
            lm, config, capacity, instrument=instrument, seed=seed, scan=scan, forkable=forkable
        )
    tokens, step_logits, timings = [], [], Timings()
    start, stopped, eos = time.perf_counter(), "length", lm.eos_ids
    run = _run(lm, runner, prompt_ids, steps, eos, forced, reused)
    for step, token, logits, step_trace, seconds in run:
        tokens.append(token)
        timings.step_s.append(seconds)
        if step == 0:
            timings.ttft_s = seconds
        if return_logits:
            step_logits.append(logits)
        if trace is not None:
            trace.steps.append(step_trace)
            trace.tokens.append(_token_texts(lm, [token])[0])
        last = len(tokens) == steps or (forced is None and token in eos)
        if last and token in eos:
            stopped = "eos"
        elif not last and should_stop is not None and should_stop():
            stopped = "cancelled"
        text = _decode(lm, tokens) if _text else ""
        update = StreamUpdate(step, token, text, seconds, trace, logits if return_logits else None)
        if last or stopped == "cancelled":
            break
        yield update
    timings.total_s = time.perf_counter() - start
    stats = Stats(len(prompt_ids), runner.prompt_compute_fraction(), runner.prompt_tokens_used_fraction())
    result = GenerationResult(
        text=_decode(lm, tokens),
        token_ids=tokens,
        prompt_ids=prompt_ids,
        timings=timings,
        stats=stats,
        config=config,
        logits=torch.stack(step_logits) if return_logits else None,
        trace=trace,
        stopped=stopped,
        scan=_scan_array(runner) if scan else None,
        fork=Fork(runner, seed) if forkable and stopped != "cancelled" else None,
    )
    update.done, update.result = True, result
    yield update


def _fork(free: GenerationResult, config: LazyConfig, prompt_ids, forced, seed, recorded: bool):
    """A teacher-forced run from a forkable run: (the logits of the steps it shares, the runner rewound
    to the last of them). Step s was fed token s-1, so the runs share the steps up to the first token
    of `free` that differs from `forced` (the step that predicted it included)."""
    fork = free.fork
    if fork is None:
        raise ValueError(
            "fork_from: that result is not open (generate it with forkable=True; a fork is used once)"
        )
    if forced is None:
        raise ValueError("fork_from: only a teacher-forced run (forced_tokens) starts from another run")
    if recorded:
        raise ValueError("fork_from: a forked run is neither instrumented nor scanned")
    if free.prompt_ids != prompt_ids or free.config != config or fork.seed != seed:
        raise ValueError("fork_from: that run had another prompt, config or seed")
    if len(prompt_ids) + len(forced) > fork.runner.capacity:
        raise ValueError("fork_from: forced_tokens is longer than that run's max_new_tokens")
    pairs = zip(free.token_ids, forced, strict=False)  # the free run may be shorter (eos) or longer
    same = next((i for i, (a, b) in enumerate(pairs) if a != b), len(forced))
    last = min(same, len(free.token_ids) - 1, len(forced) - 1)  # the last step both runs share
    fork.runner.rewind(last)
    fork.runner.instrument = False
    free.fork = None
    return list(free.logits[: last + 1]), fork.runner


def _scan_array(runner: LazyRunner) -> np.ndarray:
    """(L, prompt_len) float32 from the runner's per-layer prefill scores."""
    return torch.stack([runner.layer_scan[i] for i in range(runner.L)]).float().cpu().numpy()


def generate(
    lm: LoadedModel,
    prompt,
    config: LazyConfig | None = None,
    max_new_tokens: int = 32,
    instrument: bool = False,
    return_logits: bool = False,
    chat: bool = True,
    seed: int = 0,
    forced_tokens=None,
    scan: bool = False,
    forkable: bool = False,
    fork_from: GenerationResult | None = None,
) -> GenerationResult:
    """Greedy generation with LazyLLM (or the exact baseline when the config prunes nothing).

    forced_tokens: teacher forcing (see generate_stream); with pruning off the forced logits equal
    the free-running ones wherever the fed tokens are the argmax. forkable, fork_from: a teacher-forced
    run that starts from the free run where their tokens part (see generate_stream).
    """
    updates = generate_stream(
        lm, prompt, config, max_new_tokens, instrument, return_logits, chat, seed,
        forced_tokens=forced_tokens, scan=scan, forkable=forkable, fork_from=fork_from, _text=False,
    )  # fmt: skip
    for update in updates:
        if update.done:
            return update.result
    raise RuntimeError("generation ended without a result")
