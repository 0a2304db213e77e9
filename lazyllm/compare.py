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
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields

import numpy as np

from .config import LazyConfig
from .generate import GenerationResult, generate


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


def teacher_forced(lm, config: LazyConfig, base: GenerationResult, free: GenerationResult | None = None,
                   seed: int = 0) -> GenerationResult:  # fmt: skip
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
    fork = free if free is not None and free.fork is not None else None
    return generate(
        lm, base.prompt_ids, config=config, max_new_tokens=len(base.token_ids), return_logits=True,
        seed=seed, forced_tokens=base.token_ids, fork_from=fork,
    )  # fmt: skip


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

    @property
    def ttft_speedup(self) -> float:
        return _ratio(self.baseline_ttft_s, self.lazy_ttft_s)

    @property
    def generation_speedup(self) -> float:
        """Baseline's whole-generation time / the pruned run's (each for its own text)."""
        return _ratio(self.baseline_total_s, self.lazy_total_s)

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
            mean_kl=self.mean_kl,
            top1_agreement=self.top1_agreement,
            baseline_new_tokens=len(self.baseline_tokens),
            lazy_new_tokens=len(self.lazy_tokens),
        )
        return {**asdict(self), **{k: _finite(v) for k, v in derived.items()}}


_TEXTS = ("baseline_text", "lazy_text")
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
    }.get(name, number(v))
    if not ok:
        raise ValueError(f"comparison: field {name!r} has the wrong type or a non-finite value")
    return v


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


def compare_results(
    lm, base: GenerationResult, free: GenerationResult, forced: GenerationResult
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
    )


def compare_runs(
    lm, prompt, config: LazyConfig, max_new_tokens: int = 32, chat: bool = True, seed: int = 0,
    base: GenerationResult | None = None, instrument: bool = False,
) -> tuple[GenerationResult, GenerationResult, Comparison]:  # fmt: skip
    """Run the baseline (unless given: it must have logits), the pruned run, and, if their texts
    differ, the teacher-forced pruned run; return (baseline, pruned run, Comparison)."""
    if base is None:
        base = generate(lm, prompt, None, max_new_tokens, return_logits=True, chat=chat)
    free = generate(
        lm, prompt, config, max_new_tokens, instrument, return_logits=True, chat=chat, seed=seed, forkable=True
    )  # fmt: skip
    forced = teacher_forced(lm, config, base, free, seed)
    return base, free, compare_results(lm, base, free, forced)


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
