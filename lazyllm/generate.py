"""Generation: prefill, then decode one token per step, greedily (gpt-fast style).

`generate` returns a GenerationResult; `generate_stream` yields one StreamUpdate per step
(0 = prefill) for progress bars and live plots. Both validate their input and raise ValueError
with a message that names the field.
"""

from __future__ import annotations

import inspect
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
    """Wall-clock seconds of the method's work. Instrumentation (the trace, the layer scan, a forkable
    run's checkpoints) is timed apart, left out of every step's time, and reported as instrument_s."""

    ttft_s: float = 0.0  # the prefill step: prompt -> first token
    total_s: float = 0.0  # every step of the generation (the sum of step_s)
    step_s: list[float] = field(default_factory=list)  # seconds of each step (0 = prefill)
    instrument_s: float = 0.0  # seconds of instrumentation left out of the above (0 for a plain run)


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
    """Yield (step, token_id, logits, step_trace, seconds, aside) for every step.

    Greedy decoding; with `forced` (teacher forcing) the token fed to the next step is forced[step]
    instead of the argmax, and the run takes exactly len(forced) steps. `reused`: the logits of the
    first steps, taken from a forked run (their seconds are 0); the runner goes on after them.
    seconds: the step's time up to its next token (on a GPU: the device is waited for), its
    instrumentation (`aside`, measured by the runner) left out.
    """
    for step, logits in enumerate(reused):
        yield step, forced[step], logits, None, 0.0, 0.0
    first = forced[len(reused) - 1 : len(reused)] if reused else prompt_ids  # what the next step is fed
    ids = torch.tensor(first, dtype=torch.long, device=lm.device)
    with torch.inference_mode():
        for step in range(len(reused), steps):
            t0 = time.perf_counter()
            logits, step_trace = runner.step(ids)
            token = int(logits.argmax()) if forced is None else forced[step]
            if forced is not None and lm.device.type == "cuda":
                torch.cuda.synchronize()  # as the argmax waits for the device in a free run
            seconds = max(time.perf_counter() - t0 - runner.aside_s, 0.0)
            if step_trace is not None:
                step_trace.seconds = seconds
            yield step, token, logits, step_trace, seconds, runner.aside_s
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


@dataclass
class _Prepared:
    """A validated request with its runner: what _prepare hands to _steps."""

    lm: LoadedModel
    config: LazyConfig
    prompt_ids: list[int]
    steps: int  # how many steps at most
    forced: list[int] | None
    runner: LazyRunner
    reused: list  # logits of the steps taken from a forked run
    trace: Trace | None
    return_logits: bool
    forkable: bool
    seed: int
    scan: bool


def _prepare(
    lm,
    prompt,
    config,
    *,
    max_new_tokens,
    instrument,
    return_logits,
    chat,
    seed,
    forced_tokens,
    scan,
    forkable,
    fork_from,
    on_prefill_layer,
) -> _Prepared:
    """Validate, encode, and build the runner (or take it from the fork); ValueError names the field."""
    config = (config or LazyConfig.preset("baseline")).resolved(lm.num_layers, lm.layer_types)
    prompt_ids = encode_prompt(lm, prompt, chat=chat)
    check_request(lm, prompt_ids, max_new_tokens)
    forced = check_forced(lm, forced_tokens, max_new_tokens)
    if forkable and not return_logits:
        raise ValueError("forkable: a run kept open for teacher forcing needs return_logits=True")
    if fork_from is not None:
        reused, runner = _fork(fork_from, config, prompt_ids, forced, seed, instrument or scan)
    else:
        capacity = len(prompt_ids) + max_new_tokens
        reused = []
        runner = LazyRunner(
            lm,
            config,
            capacity,
            instrument=instrument,
            seed=seed,
            scan=scan,
            forkable=forkable,
            on_prefill_layer=on_prefill_layer,
        )
    return _Prepared(
        lm=lm,
        config=config,
        prompt_ids=prompt_ids,
        steps=len(forced) if forced is not None else max_new_tokens,
        forced=forced,
        runner=runner,
        reused=reused,
        trace=_new_trace(lm, config, prompt_ids) if instrument else None,
        return_logits=return_logits,
        forkable=forkable,
        seed=seed,
        scan=scan,
    )


def _options(scope: dict) -> dict:
    """generate_stream's keyword options from its arguments (its locals, or generate's bound ones), for
    _prepare."""
    return {k: v for k, v in scope.items() if k not in ("lm", "prompt", "config", "should_stop")}


def _steps(p: _Prepared, should_stop, texts: bool) -> Iterator[StreamUpdate]:
    """Run a prepared request, one StreamUpdate per step; the last has done=True and the result.
    texts: decode the text so far at every step (a stream's reader shows it; generate does not)."""
    lm, trace = p.lm, p.trace
    tokens, step_logits, timings = [], [], Timings()
    stopped, eos = "length", lm.eos_ids
    for step, token, logits, step_trace, seconds, aside in _run(
        lm, p.runner, p.prompt_ids, p.steps, eos, p.forced, p.reused
    ):
        tokens.append(token)
        timings.step_s.append(seconds)
        timings.instrument_s += aside
        if p.return_logits:
            step_logits.append(logits)
        if trace is not None:
            trace.steps.append(step_trace)
            trace.tokens.append(_token_texts(lm, [token])[0])
        last = len(tokens) == p.steps or (p.forced is None and token in eos)
        if last and token in eos:
            stopped = "eos"
        elif not last and should_stop is not None and should_stop():
            stopped = "cancelled"
        text = _decode(lm, tokens) if texts else ""
        update = StreamUpdate(step, token, text, seconds, trace, logits if p.return_logits else None)
        if last or stopped == "cancelled":
            break
        yield update
    timings.ttft_s, timings.total_s = timings.step_s[0], sum(timings.step_s)
    update.done, update.result = True, _result(p, tokens, step_logits, timings, stopped)
    yield update


def _result(p: _Prepared, tokens, step_logits, timings: Timings, stopped: str) -> GenerationResult:
    runner = p.runner
    stats = Stats(len(p.prompt_ids), runner.prompt_compute_fraction(), runner.prompt_tokens_used_fraction())
    return GenerationResult(
        text=_decode(p.lm, tokens),
        token_ids=tokens,
        prompt_ids=p.prompt_ids,
        timings=timings,
        stats=stats,
        config=p.config,
        logits=torch.stack(step_logits) if p.return_logits else None,
        trace=p.trace,
        stopped=stopped,
        scan=_scan_array(runner) if p.scan else None,
        fork=Fork(runner, p.seed) if p.forkable and stopped != "cancelled" else None,
    )


def generate_stream(
    lm: LoadedModel,
    prompt,
    config: LazyConfig | None = None,
    *,
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
    on_prefill_layer=None,
) -> Iterator[StreamUpdate]:
    """Generate, yielding one StreamUpdate per step (0 = prefill); the last one has done=True and the result.

    lm: a LoadedModel (load_model). prompt: text (chat-templated when `chat` and the model has a
        template), a list of chat messages [{"role", "content"}], or a list of token ids.
    config: the LazyConfig (None: the baseline, no pruning); presets are resolved for this model.
    max_new_tokens: steps at most (1 = the prefill only); the run ends earlier at an end-of-sequence token.
    instrument: record a Trace of every decision (`result.trace`; DESIGN.md's trace fields).
    return_logits: keep each step's (V,) logits (`result.logits`, (steps, V) float32).
    chat: apply the chat template to a text prompt. seed: the `random` strategy's generator.
    forced_tokens: teacher forcing: feed these ids instead of the argmax (one step per id; the
        result's token_ids are these ids and its logits the model's predictions on that context).
    should_stop: optional callable checked after each step; True ends the run cleanly (stopped="cancelled").
    scan: also score every layer at prefill with the paper's importance (the layer scan; pruning
        off only): `result.scan`, (L, prompt_len).
    forkable: keep the run open in `result.fork` (its runner and a checkpoint after every step; needs
        return_logits), so that a teacher-forced run can start from it. Holds the run's caches until
        used: pass it to fork_from, or drop it (`result.fork = None`). lazyllm.compare does this.
    fork_from: a forkable result of the same prompt, config and seed: the teacher-forced run
        (forced_tokens) reuses its steps that were fed the same tokens (all up to its first token that
        differs from forced_tokens) and runs only the rest, from that step's checkpoint. A fork is used
        once (fork_from.fork becomes None); the reused steps take 0 s (forced runs are not timed).
    on_prefill_layer: optional callable, called as on_prefill_layer(layers_done, num_layers) after each
        layer of the prefill (not of decode steps; not at all in a run forked from another), e.g. for a
        "prefill: layer 12/30" progress line; it runs in the generating thread, should return quickly,
        and its time is left out of the step's. It changes no result.
    Timings are the method's: instrumentation (instrument, scan, forkable) is timed apart and left out.
    """
    options = _options(locals())
    yield from _steps(_prepare(lm, prompt, config, **options), should_stop, texts=True)


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


def generate(lm: LoadedModel, prompt, config: LazyConfig | None = None, **options) -> GenerationResult:
    """Greedy generation with LazyLLM (or the exact baseline when the config prunes nothing): generate_stream
    run to its end. It takes generate_stream's keyword options, documented there (its signature is
    generate's: `help(generate)` lists them); returns the result.
    With pruning off the forced logits equal the free-running ones wherever the fed tokens are the argmax.
    """
    bound = _STREAM.bind(lm, prompt, config, **options)  # TypeError names an unknown option
    bound.apply_defaults()
    request = _prepare(lm, prompt, config, **_options(bound.arguments))
    for update in _steps(request, bound.arguments["should_stop"], texts=False):
        if update.done:
            return update.result
    raise RuntimeError("generation ended without a result")


_STREAM = inspect.signature(generate_stream)  # one list of options, with their defaults, for both
generate.__signature__ = _STREAM.replace(return_annotation="GenerationResult")
