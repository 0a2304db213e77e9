"""Generation: prefill, then decode one token per step, greedily (gpt-fast style).

`generate` returns a GenerationResult; `generate_stream` yields one StreamUpdate per step
(0 = prefill) for progress bars and live plots. Both validate their input and raise ValueError
with a message that names the field.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

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
    """Token ids of a prompt: text (chat-templated when chat and a template exists), messages, or ids."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ValueError("prompt is empty: give some text")
        check_unicode(prompt)
        if chat:
            return _apply_chat(lm, [{"role": "user", "content": prompt}], prompt)
        return list(lm.tokenizer(prompt, add_special_tokens=True)["input_ids"])
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(m, dict) for m in prompt):
        if not any(str(m.get("content", "")).strip() for m in prompt):
            raise ValueError("prompt is empty: the chat messages have no content")
        for m in prompt:
            check_unicode(str(m.get("content", "")))
        return _apply_chat(lm, list(prompt), None)
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


def check_unicode(text: str) -> None:
    """Raise ValueError for text the tokenizer cannot take (lone surrogates from broken UTF-16)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"prompt is not valid Unicode text ({e.reason} at character {e.start})") from None


def _apply_chat(lm: LoadedModel, messages: list[dict], text: str | None) -> list[int]:
    tok = lm.tokenizer
    if tok is None:
        raise ValueError("this model has no tokenizer: pass the prompt as a list of token ids")
    if getattr(tok, "chat_template", None):
        out = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        ids = out["input_ids"] if hasattr(out, "keys") else out
        return [int(i) for i in (ids[0] if ids and isinstance(ids[0], list) else ids)]
    joined = text if text is not None else "\n".join(str(m.get("content", "")) for m in messages)
    return list(tok(joined, add_special_tokens=True)["input_ids"])


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


def _run(lm, runner: LazyRunner, prompt_ids, max_new_tokens, eos: set[int]) -> Iterator:
    """Yield (step, token_id, logits, step_trace, seconds) for every step, greedy decoding."""
    ids = torch.tensor(prompt_ids, dtype=torch.long, device=lm.device)
    with torch.inference_mode():
        for step in range(max_new_tokens):
            t0 = time.perf_counter()
            logits, step_trace = runner.step(ids)
            token = int(logits.argmax())
            seconds = time.perf_counter() - t0
            yield step, token, logits, step_trace, seconds
            if token in eos:
                return
            ids = torch.tensor([token], dtype=torch.long, device=lm.device)


def generate_stream(
    lm: LoadedModel,
    prompt,
    config: LazyConfig | None = None,
    max_new_tokens: int = 32,
    instrument: bool = False,
    return_logits: bool = False,
    chat: bool = True,
    seed: int = 0,
    should_stop=None,
    _text: bool = True,
) -> Iterator[StreamUpdate]:
    """Generate, yielding one StreamUpdate per step; the last one has done=True and the result.

    should_stop: optional callable checked after each step; True ends the run cleanly.
    """
    config = (config or LazyConfig.preset("baseline")).resolved(lm.num_layers)
    prompt_ids = encode_prompt(lm, prompt, chat=chat)
    check_request(lm, prompt_ids, max_new_tokens)
    trace = None
    if instrument:
        trace = Trace(
            num_layers=lm.num_layers,
            prompt_len=len(prompt_ids),
            tokens=_token_texts(lm, prompt_ids),
            schedule=[[layer, k] for layer, k in config.schedule],
            strategy=config.strategy,
            variant=config.variant,
            model=lm.name,
            config_name=config.name,
        )
    tokens, step_logits, timings = [], [], Timings()
    runner = LazyRunner(lm, config, len(prompt_ids) + max_new_tokens, instrument=instrument, seed=seed)
    start, stopped, eos = time.perf_counter(), "length", lm.eos_ids
    for step, token, logits, step_trace, seconds in _run(lm, runner, prompt_ids, max_new_tokens, eos):
        tokens.append(token)
        timings.step_s.append(seconds)
        if step == 0:
            timings.ttft_s = seconds
        if return_logits:
            step_logits.append(logits)
        if trace is not None:
            trace.steps.append(step_trace)
            trace.tokens.append(_token_texts(lm, [token])[0])
        if token in eos:
            stopped = "eos"
        elif should_stop is not None and len(tokens) < max_new_tokens and should_stop():
            stopped = "cancelled"
        text = _decode(lm, tokens) if _text else ""
        update = StreamUpdate(step, token, text, seconds, trace, logits if return_logits else None)
        if stopped != "length" or len(tokens) == max_new_tokens:
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
    )
    update.done, update.result = True, result
    yield update


def generate(
    lm: LoadedModel,
    prompt,
    config: LazyConfig | None = None,
    max_new_tokens: int = 32,
    instrument: bool = False,
    return_logits: bool = False,
    chat: bool = True,
    seed: int = 0,
) -> GenerationResult:
    """Greedy generation with LazyLLM (or the exact baseline when the config prunes nothing)."""
    updates = generate_stream(
        lm,
        prompt,
        config,
        max_new_tokens,
        instrument,
        return_logits,
        chat,
        seed,
        should_stop=None,
        _text=False,
    )
    for update in updates:
        if update.done:
            return update.result
    raise RuntimeError("generation ended without a result")
