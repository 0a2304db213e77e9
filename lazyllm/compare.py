"""A pruned run against the baseline run of the same prompt: one definition of every number.

Used by the CLI (`generate --compare`), the app (`/run` and every view) and the harness (bench, tune).

- **Free-running token agreement**: each run feeds back its own greedy tokens (what a user reads);
  the fraction of steps, over the longer run, where both produced the same token. After the first
  divergence the two runs continue different texts, so later matches are coincidences of two
  continuations: read it with the first divergence.
- **First divergence**: the first step whose tokens differ (or where one run stopped).
- **Teacher-forced fidelity**: the pruned model fed the *baseline's* tokens
  (`generate(..., forced_tokens=base.token_ids)`), so at every step both models predict from the same
  context. Per step: KL(p_baseline || p_pruned) of the next-token distributions, in nats, and whether
  their top-1 tokens agree. Well defined at every step, also after the free-running texts diverged.
- **The baseline's attention at the split** (`Comparison.baseline_attention`, instrumented comparisons
  whose texts diverge): at the first divergence step t, the baseline's last token's attention over the
  context (prompt + the t tokens both runs share), averaged over heads, at every layer: the paper's
  importance (§3.2, Eq. 1) of the unpruned model, (L, prompt_len + t). The baseline (kept open:
  forkable) runs step t again from its checkpoint with every layer scored (`split_attention`), after
  the timed runs and never timed; at t = 0 the baseline's own prefill scan when it has one.
- **Speed**: TTFT speedup = baseline prefill step / pruned prefill step; whole-generation speedup =
  baseline seconds / pruned seconds over the steps *both* runs took (the first k, k = the shorter run's
  length), never k steps against k + 1. The two runs are timed back to back in one process; every
  second is the method's: instrumentation (trace, layer scan, checkpoints) is timed apart and left out
  (generate's Timings.instrument_s), and the forced run is never timed.

`compare_stream` is the one sequence (pruned run, baseline, teacher-forced twin) that the CLI, the app
and the harness run; `compare_runs` is the same, drained.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields

import numpy as np

from .config import LazyConfig
from .generate import GenerationResult, StreamUpdate, encode_prompt, generate_stream


def token_agreement(base_ids, lazy_ids) -> float:
    """Free-running agreement: steps with the same token / steps of the longer run (1.0 if both empty)."""
    n = max(len(base_ids), len(lazy_ids))
    if n == 0:
        return 1.0
    return sum(int(a == b) for a, b in zip(base_ids, lazy_ids, strict=False)) / n


def first_divergence(base_ids, lazy_ids) -> int | None:
    """The first step whose token differs (or where one run stopped), None if identical."""
    for i, (a, b) in enumerate(zip(base_ids, lazy_ids, strict=False)):
        if a != b:
            return i
    return None if len(base_ids) == len(lazy_ids) else min(len(base_ids), len(lazy_ids))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def step_kl_top1(base_logits, forced_logits) -> tuple[list[float], list[bool]]:
    """Per step: KL(p_baseline || p_pruned) in nats, and whether the argmax tokens agree.

    base_logits, forced_logits: (steps, V) on the same context at every step (teacher forcing).
    """
    a, b = _numpy(base_logits), _numpy(forced_logits)
    if a.shape != b.shape:
        raise ValueError(f"logits: shapes differ ({a.shape} vs {b.shape}); teacher-force the pruned run")
    if a.shape[0] == 0:
        return [], []
    la, lb = _log_softmax(a), _log_softmax(b)  # (steps, V)
    kl = (np.exp(la) * (la - lb)).sum(axis=-1)
    top1 = a.argmax(-1) == b.argmax(-1)
    return [float(max(v, 0.0)) for v in kl], [bool(v) for v in top1]


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def forcing_needed(base: GenerationResult, free: GenerationResult) -> bool:
    """False when the free-running run already is the teacher-forced one (same tokens, with logits)."""
    return free.logits is None or free.token_ids != base.token_ids


def teacher_forced(
    lm, config: LazyConfig, base: GenerationResult, free: GenerationResult | None = None, seed: int = 0
) -> GenerationResult:
    """The pruned run fed the baseline's tokens (needs base.token_ids; returns logits).

    When the free-running pruned run `free` (same config and seed) produced exactly the baseline's
    tokens, it was fed the same tokens at every step, so it *is* the teacher-forced run: returned
    as it is, without running again. Up to its first token that differs from the baseline's it was
    fed the same tokens too: when it was generated with forkable=True, the forced run starts from it
    there (generate's fork_from) and runs only the steps after, not the prefill again.
    """
    if free is not None and not forcing_needed(base, free):
        free.fork = None  # not needed: the caches it holds are freed
        return free
    for update in _forced_stream(lm, config, base, free, seed):
        if update.done:
            return update.result
    raise RuntimeError("the teacher-forced run ended without a result")


def _forced_stream(
    lm, config: LazyConfig, base: GenerationResult, free: GenerationResult | None, seed: int, should_stop=None
) -> Iterator[StreamUpdate]:
    """The teacher-forced run's updates (it starts from `free`'s fork when it has one)."""
    fork = free if free is not None and free.fork is not None else None
    yield from generate_stream(
        lm,
        base.prompt_ids,
        config=config,
        max_new_tokens=len(base.token_ids),
        return_logits=True,
        seed=seed,
        forced_tokens=base.token_ids,
        fork_from=fork,
        should_stop=should_stop,
    )


@dataclass
class Comparison:
    """Baseline vs pruned run on one prompt: texts, timings, compute, fidelity (see the module doc)."""

    baseline_text: str
    lazy_text: str
    baseline_tokens: list[str]  # text of each generated token (for display)
    lazy_tokens: list[str]
    baseline_ttft_s: float
    lazy_ttft_s: float
    baseline_total_s: float
    lazy_total_s: float
    baseline_step_s: list[float]  # wall-clock seconds of every step (0 = prefill)
    lazy_step_s: list[float]
    compute_fraction: float  # (prompt token, layer) computations / the baseline's, whole generation
    prompt_tokens_used_fraction: float
    token_agreement: float  # free-running
    first_divergence: int | None  # free-running
    kl_per_step: list[float]  # teacher-forced
    top1_per_step: list[bool]  # teacher-forced
    config: dict = field(default_factory=dict)  # the pruned run's config (config_summary)
    prompt_tokens: int = 0
    timing: str = ""  # how the seconds were measured (timing_note), for every screen that shows them
    lazy_instrument_s: float = 0.0  # the pruned run's instrumentation, timed apart and left out
    baseline_instrument_s: float = 0.0
    # (L, prompt_len + t) the baseline's last-token attention (head mean) at the first divergence step t
    # over the shared context; None when the texts agree or the comparison was not instrumented
    baseline_attention: list[list[float]] | None = None

    @property
    def ttft_speedup(self) -> float:
        return _ratio(self.baseline_ttft_s, self.lazy_ttft_s)

    @property
    def timed_steps(self) -> int:
        """Steps both runs took: the whole-generation speedup compares these, never k against k + 1."""
        return min(len(self.baseline_step_s), len(self.lazy_step_s))

    @property
    def generation_speedup(self) -> float:
        """Baseline seconds / pruned seconds over the first `timed_steps` steps of each run."""
        k = self.timed_steps
        if k == 0:  # a comparison without per-step times (an old trace file)
            return _ratio(self.baseline_total_s, self.lazy_total_s)
        return _ratio(sum(self.baseline_step_s[:k]), sum(self.lazy_step_s[:k]))

    @property
    def decode_step_ratio(self) -> float:
        """Median pruned decode step / median baseline decode step (nan without decode steps)."""
        k = self.timed_steps
        if k < 2:
            return float("nan")
        return _ratio(float(np.median(self.lazy_step_s[1:k])), float(np.median(self.baseline_step_s[1:k])))

    @property
    def mean_kl(self) -> float:
        return float(np.mean(self.kl_per_step)) if self.kl_per_step else 0.0

    @property
    def top1_agreement(self) -> float:
        return float(np.mean(self.top1_per_step)) if self.top1_per_step else 1.0

    @property
    def same_text(self) -> bool:
        return self.first_divergence is None

    def divergence_kl(self) -> float | None:
        """Teacher-forced KL at the first divergence step (None when the texts are the same)."""
        t = self.first_divergence
        return self.kl_per_step[t] if t is not None and t < len(self.kl_per_step) else None

    @classmethod
    def from_dict(cls, d: dict) -> Comparison:
        """A Comparison read back from JSON (a trace file's explorer section); ValueError names the field."""
        if not isinstance(d, dict):
            raise ValueError("comparison must be a JSON object")
        out = {}
        for f in fields(cls):
            if f.name not in d:
                if f.default is not MISSING or f.default_factory is not MISSING:
                    continue
                raise ValueError(f"comparison is missing the field {f.name!r}")
            out[f.name] = _checked(f.name, d[f.name])
        return cls(**out)

    def to_dict(self) -> dict:
        derived = dict(
            ttft_speedup=self.ttft_speedup,
            generation_speedup=self.generation_speedup,
            timed_steps=self.timed_steps,
            decode_step_ratio=self.decode_step_ratio,
            mean_kl=self.mean_kl,
            top1_agreement=self.top1_agreement,
            baseline_new_tokens=len(self.baseline_tokens),
            lazy_new_tokens=len(self.lazy_tokens),
        )
        return {**asdict(self), **{k: _finite(v) for k, v in derived.items()}}


_TEXTS = ("baseline_text", "lazy_text", "timing")
_TOKEN_LISTS = ("baseline_tokens", "lazy_tokens")
_SECONDS = ("baseline_step_s", "lazy_step_s", "kl_per_step")
MAX_STEPS = 1_000_000


def _checked(name: str, v):
    """One field of a Comparison from JSON, type-checked (finite numbers, bounded lists)."""

    def number(x):
        return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)

    ok = {
        **{k: isinstance(v, str) for k in _TEXTS},
        **{
            k: isinstance(v, list) and len(v) <= MAX_STEPS and all(isinstance(x, str) for x in v)
            for k in _TOKEN_LISTS
        },
        **{k: isinstance(v, list) and len(v) <= MAX_STEPS and all(number(x) for x in v) for k in _SECONDS},
        "top1_per_step": isinstance(v, list) and len(v) <= MAX_STEPS and all(isinstance(x, bool) for x in v),
        "first_divergence": v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        "config": isinstance(v, dict),
        "prompt_tokens": isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "baseline_attention": v is None or _matrix(v, number),
    }.get(name, number(v))
    if not ok:
        raise ValueError(f"comparison: field {name!r} has the wrong type or a non-finite value")
    return v


MAX_ATTENTION = 4_000_000  # numbers in baseline_attention (layers x context) at most


def _matrix(v, number) -> bool:
    """A non-empty list of equally long, non-empty lists of finite numbers (at most MAX_ATTENTION)."""
    if not isinstance(v, list) or not v or not all(isinstance(r, list) and r for r in v):
        return False
    width = len(v[0])
    if len(v) * width > MAX_ATTENTION or any(len(r) != width for r in v):
        return False
    return all(number(x) for r in v for x in r)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def config_summary(cfg: LazyConfig) -> dict:
    """What ran, as the app and the API report it (every label is read from here or the trace)."""
    return dict(
        name=cfg.name,
        label=cfg.label,
        strategy=cfg.strategy,
        schedule=[[int(layer), float(k)] for layer, k in cfg.schedule],
        window=cfg.window,
        pool=cfg.pool,
        sinks=cfg.sinks,
        variant=cfg.variant,
        describe=cfg.describe(),
    )


def token_texts(lm, ids) -> list[str]:
    """Text of each generated token (special tokens such as end-of-turn left out)."""
    if lm.tokenizer is None:
        return [str(i) for i in ids]
    return [lm.tokenizer.decode([int(i)], skip_special_tokens=True) for i in ids]


def timing_note(base: GenerationResult, free: GenerationResult, base_timed: bool = True) -> str:
    """How the comparison's seconds were measured, in words (shown next to every speed number)."""
    parts = [
        "one run each, back to back in this process" if base_timed else "the baseline given by the caller"
    ]
    if free.timings.instrument_s > 0 or base.timings.instrument_s > 0:
        aside = free.timings.instrument_s + base.timings.instrument_s
        parts.append(
            f"instrumentation (trace, layer scan, checkpoints: {aside:.3f} s) timed apart and left out"
        )
    parts.append("the teacher-forced run is not timed")
    return "; ".join(parts)


def split_attention(lm, base: GenerationResult, step: int) -> np.ndarray | None:
    """(L, prompt_len + step) float32: the baseline's last-token attention, averaged over heads, at every
    layer at decode step `step` (0 = prefill), over the context it had then: the prompt and its first
    `step` tokens. None when the baseline took no such step.

    At step 0: the baseline's own prefill scan, when it ran one. A forkable baseline (generate(...,
    forkable=True)) runs that step again from its checkpoint, every layer scored (one decode step; its
    fork is then used up). Otherwise one prefill of that context with the layer scan on: the attention
    of a prefill's last position equals that of the decode step fed the same token on the same context
    (no pruning: every token at every layer). Never timed: callers run it after the timed runs.
    """
    if not 0 <= step < len(base.token_ids):
        return None
    if step == 0 and base.scan is not None:
        return base.scan
    fork, base.fork = base.fork, None
    if step > 0 and fork is not None and base.config.is_baseline:
        return _step_again(fork.runner, step, base.token_ids[step - 1])
    from .generate import generate

    prefix = list(base.prompt_ids) + list(base.token_ids[:step])
    return generate(lm, prefix, max_new_tokens=1, scan=True).scan


def _step_again(runner, step: int, fed: int) -> np.ndarray:
    """Decode step `step` of a forkable unpruned run again (fed token `fed`), every layer scored."""
    import torch

    runner.rewind(step - 1)
    runner.instrument, runner.scan_steps = False, True
    with torch.inference_mode():
        runner.step(torch.tensor([fed], dtype=torch.long, device=runner.lm.device))
    return torch.stack([runner.step_scan[i] for i in range(runner.L)]).float().cpu().numpy()


def _attention_field(a: np.ndarray | None) -> list[list[float]] | None:
    return None if a is None else np.round(np.asarray(a, dtype=np.float64), 7).tolist()


def compare_results(
    lm,
    base: GenerationResult,
    free: GenerationResult,
    forced: GenerationResult,
    timing: str = "",
    attention: np.ndarray | None = None,
) -> Comparison:
    """The Comparison of a baseline run, the free-running pruned run and its teacher-forced run."""
    kl, top1 = step_kl_top1(base.logits, forced.logits)
    return Comparison(
        baseline_text=base.text,
        lazy_text=free.text,
        baseline_tokens=token_texts(lm, base.token_ids),
        lazy_tokens=token_texts(lm, free.token_ids),
        baseline_ttft_s=base.timings.ttft_s,
        lazy_ttft_s=free.timings.ttft_s,
        baseline_total_s=base.timings.total_s,
        lazy_total_s=free.timings.total_s,
        baseline_step_s=list(base.timings.step_s),
        lazy_step_s=list(free.timings.step_s),
        compute_fraction=free.stats.prompt_compute_fraction,
        prompt_tokens_used_fraction=free.stats.prompt_tokens_used_fraction,
        token_agreement=token_agreement(base.token_ids, free.token_ids),
        first_divergence=first_divergence(base.token_ids, free.token_ids),
        kl_per_step=kl,
        top1_per_step=top1,
        config=config_summary(free.config),
        prompt_tokens=free.stats.prompt_len,
        timing=timing or timing_note(base, free),
        lazy_instrument_s=free.timings.instrument_s,
        baseline_instrument_s=base.timings.instrument_s,
        baseline_attention=_attention_field(attention),
    )


@dataclass
class CompareUpdate:
    """One step of one run of compare_stream; the last update has done=True and `result`."""

    run: str  # "LazyLLM" (or the caller's label), "baseline" or "teacher-forced"
    index: int  # which run of the sequence (0-based) …
    total: int  # … of at most how many
    update: StreamUpdate | None  # the run's step (None on the final update)
    done: bool = False
    result: tuple[GenerationResult, GenerationResult, Comparison] | None = None  # None when stopped
    pruned: GenerationResult | None = None  # on the final update: the pruned run, as far as it went


def compare_stream(
    lm,
    prompt,
    config: LazyConfig,
    *,
    max_new_tokens: int = 32,
    chat: bool = True,
    seed: int = 0,
    instrument: bool = False,
    scan: bool = False,
    base: GenerationResult | None = None,
    should_stop: Callable[[], bool] | None = None,
    label: str = "LazyLLM",
    on_prefill_layer: Callable[[int, int], None] | None = None,
) -> Iterator[CompareUpdate]:
    """The one comparison sequence: the pruned run, the baseline, and (if their texts differ) the pruned
    run teacher-forced on the baseline's tokens; yields a CompareUpdate per step of each run, then a
    final one with `result` = (baseline, pruned run, Comparison), or None when should_stop ended it.

    The pruned run goes first (its prefill can be shown at once) and is kept open (forkable) only for
    the forced twin, which starts from it where the tokens part; the fork is freed however this ends.
    instrument: the pruned run records its Trace (`run.trace`), and where the texts diverge the
    Comparison gets the baseline's attention at the split (`split_attention`: the baseline, kept open for
    it, runs that one step again after the timed runs, untimed; skipped when stopped).
    scan: the baseline also runs the layer scan (`baseline.scan`). base: a baseline result of the same
    prompt with logits (e.g. a bench's own interleaved run): used as given, not run again.
    on_prefill_layer: generate_stream's progress hook, for the prefill of the pruned run, then of the
    baseline (the forced twin starts from the pruned run and has no prefill of its own).
    Timings: see the module doc.
    """
    ids = encode_prompt(lm, prompt, chat=chat)
    total, given = (2, True) if base is not None else (3, False)

    ended: list[GenerationResult] = []  # every run's result, a stopped one too

    def run(name: str, index: int, updates: Iterator[StreamUpdate]):
        """Pass a run's updates on; return its result (None when stopped)."""
        for u in updates:
            yield CompareUpdate(name, index, total, u)
            if u.done:
                ended.append(u.result)
                return None if u.result.stopped == "cancelled" else u.result
        return None

    common = dict(
        max_new_tokens=max_new_tokens,
        return_logits=True,
        should_stop=should_stop,
        on_prefill_layer=on_prefill_layer,
    )
    pruned = generate_stream(lm, ids, config, instrument=instrument, seed=seed, forkable=True, **common)
    free = yield from run(label, 0, pruned)
    partial = ended[0] if ended else None
    forced = None
    try:
        if free is not None and base is None:  # forkable when instrumented: split_attention steps it again
            baseline = generate_stream(lm, ids, scan=scan, forkable=instrument, **common)
            base = yield from run("baseline", 1, baseline)
        if free is not None and base is not None:
            forced = free  # the texts agree: the free run was fed the baseline's tokens
            if forcing_needed(base, free):
                twin = _forced_stream(lm, config, base, free, seed, should_stop)
                forced = yield from run("teacher-forced", total - 1, twin)
        attention = None
        t = None if forced is None else first_divergence(base.token_ids, free.token_ids)
        if instrument and t is not None and not (should_stop is not None and should_stop()):
            attention = split_attention(lm, base, t)
    finally:
        for r in ended:
            r.fork = None  # the caches a forkable run holds, freed however the sequence ends
    result = None
    if forced is not None:
        note = timing_note(base, free, not given)
        result = (base, free, compare_results(lm, base, free, forced, note, attention))
    yield CompareUpdate("done", total, total, None, done=True, result=result, pruned=partial)


def compare_runs(
    lm, prompt, config: LazyConfig, max_new_tokens: int = 32, **options
) -> tuple[GenerationResult, GenerationResult, Comparison]:
    """compare_stream drained: (baseline, pruned run, Comparison). options: compare_stream's keyword
    options (chat, seed, instrument, scan, base, ...); a misspelt one is a TypeError naming it."""
    for u in compare_stream(lm, prompt, config, max_new_tokens=max_new_tokens, **options):
        if u.done:
            return u.result
    raise RuntimeError("the comparison ended without a result")


def verdict(c: Comparison, correct: bool | None = None) -> str:
    """One line: same text, or where the texts diverged (token a -> b, with its teacher-forced KL);
    and, where the answer is known, whether the pruned run's answer is right."""
    if c.same_text:
        line = "Same text as the baseline"
    else:
        t = c.first_divergence
        a = c.baseline_tokens[t] if t < len(c.baseline_tokens) else "(end)"
        b = c.lazy_tokens[t] if t < len(c.lazy_tokens) else "(end)"
        kl = c.divergence_kl()
        line = f"Diverged at step {t} ({a!r} → {b!r}" + (
            f", teacher-forced KL {kl:.3g} nats)" if kl is not None else ")"
        )
    if correct is not None:
        line += "; the answer is " + ("right" if correct else "wrong")
    return line + "."
