"""Which configs a bench or tune runs: labelled candidates, all built by ``LazyConfig.from_user``.

A bench compares the baseline, ``lazy`` presets and schedules, and the paper's Table 1 baselines
(``static``: prune once at prefill; ``random``: drop as many tokens at random) at the budget of the
first lazy entry. A tune sweeps schedules given as depth fractions (so a result transfers to other
depths, §5.4: where to prune matters more than how much) times the scoring variants (beyond the paper).

Every label comes from one function, ``label_of``, so a table says what ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from lazyllm.config import PRESETS, LazyConfig, format_schedule

BASELINE = "baseline"
PAPER_SCORING = dict(window=1, pool=1, sinks=0)  # the paper's importance: the last query only (§3.2)


@dataclass(frozen=True)
class Candidate:
    """A config a bench runs, with its table label and its kind ("baseline", "lazy", "static" or
    "random", for plots)."""

    label: str
    config: LazyConfig
    kind: str

    @classmethod
    def of(cls, config: LazyConfig) -> Candidate:
        kind = BASELINE if config.is_baseline else config.strategy
        return cls(label_of(config), config, kind)


def label_of(cfg: LazyConfig) -> str:
    """A short label true to what ran: "paper", "question [w4]", "lazy 9:0.7,19:0.5 [w16]", "static @ paper".

    Named after its preset when the schedule is the preset's (then [w,p,s] lists the scoring that
    differs from the preset's own), else after its schedule (then [w,p,s] lists the scoring that
    differs from the paper's); a strategy other than `lazy` is a prefix.
    """
    if cfg.name != "custom":
        return cfg.name
    base = LazyConfig.preset(cfg.base) if cfg.base else None
    if base is not None and _same_schedule(cfg, base):
        name, reference = cfg.base, dict(window=base.window, pool=base.pool, sinks=base.sinks)
    else:
        name, reference = "lazy " + compact_schedule(cfg), PAPER_SCORING
    parts = [f"{key[0]}{getattr(cfg, key)}" for key, value in reference.items() if getattr(cfg, key) != value]
    suffix = f" [{','.join(parts)}]" if parts else ""
    prefix = f"{cfg.strategy} @ " if cfg.strategy != "lazy" else ""
    return prefix + name + suffix


def _same_schedule(cfg: LazyConfig, preset: LazyConfig) -> bool:
    """Does `cfg` prune where and how much `preset` does (by depth fractions, or by layers once resolved)?"""
    if cfg.stages is not None:
        return cfg.stages == preset.stages
    return (
        cfg.num_layers is not None
        and cfg.schedule == preset.resolved(cfg.num_layers, cfg.layer_types).schedule
    )


def compact_schedule(cfg: LazyConfig) -> str:
    """ "9:0.7,19:0.5" (layers) or "0.3:0.7,0.6:0.7" (depth fractions), without spaces."""
    return format_schedule(cfg.stages if cfg.stages is not None else cfg.schedule).replace(" ", "")


def baseline() -> Candidate:
    return Candidate.of(LazyConfig.from_user(preset=BASELINE))


def same_budget(ref: Candidate, kind: str) -> Candidate:
    """`static` or `random` with the schedule and scoring of `ref` (the same token-layer budget at prefill)."""
    cfg = ref.config
    where = dict(stages=cfg.stages) if cfg.stages is not None else dict(schedule=cfg.schedule)
    return Candidate.of(
        LazyConfig.from_user(
            preset=cfg.base or (cfg.name if cfg.name in PRESETS else None), strategy=kind, window=cfg.window, pool=cfg.pool, sinks=cfg.sinks,
            num_layers=cfg.num_layers, **where,
        )
    )  # fmt: skip


def build_candidates(
    presets: str = "paper",
    schedules: str = "",
    strategies: str = "static,random",
    num_layers: int | None = None,
    stages: str = "",
    **variant,
) -> list[Candidate]:
    """Baseline first, then lazy presets, then lazy schedules ("9:0.7,19:0.7;5:0.5", needs `num_layers`)
    and depth-fraction schedules ("0.47:0.2;0.4:0.4,0.6:0.4"), then the `static` / `random` baselines
    at the budget of the first lazy entry.

    variant: window / pool / sinks; None keeps a preset's own (e.g. `question`'s window 16).
    """
    out = [baseline()]
    for name in parse_list(presets, ","):
        if name == BASELINE:
            continue
        if name not in PRESETS:
            raise ValueError(f"--presets: unknown preset {name!r}; known: {', '.join(PRESETS)}")
        out.append(Candidate.of(LazyConfig.from_user(preset=name, **variant)))
    for text in parse_list(schedules, ";"):
        out.append(Candidate.of(LazyConfig.from_user(schedule=text, num_layers=num_layers, **variant)))
    for text in parse_list(stages, ";"):
        out.append(Candidate.of(LazyConfig.from_user(stages=text, **variant)))
    lazy = [c for c in out if c.kind == "lazy"]
    for kind in parse_list(strategies, ","):
        if kind not in ("static", "random", "lazy"):
            raise ValueError(f"--strategies: expected static and/or random, got {kind!r}")
        if kind != "lazy" and lazy:
            out.append(same_budget(lazy[0], kind))
    return distinct(out)


def distinct(candidates: list[Candidate]) -> list[Candidate]:
    """The first candidate of each label (a schedule equal to a preset's is that preset)."""
    first: dict[str, Candidate] = {}
    for c in candidates:
        first.setdefault(c.label, c)
    return list(first.values())


def tune_candidates(
    grid, schedules=(), variants=(PAPER_SCORING,), num_layers: int | None = None
) -> list[Candidate]:
    """Baseline, then, per scoring variant, every stage schedule of `grid` (pairs or "0.3:0.5,0.6:0.5")
    and every layer schedule text of `schedules` (needs `num_layers`)."""
    out = [baseline()]
    for v in variants:
        out += [Candidate.of(LazyConfig.from_user(stages=st, **v)) for st in grid]
        out += [Candidate.of(LazyConfig.from_user(schedule=t, num_layers=num_layers, **v)) for t in schedules]
    return distinct(out)


def stage_compute_fraction(stages) -> float:
    """Prefill token-layer work of a stage schedule relative to the baseline (depth fractions)."""
    work, keep, last = 0.0, 1.0, 0.0
    for f, k in stages:
        work += (f - last) * keep
        keep, last = keep * k, f
    return work + (1.0 - last) * keep


# The tune grid (depth fractions): where the first stage starts, and the keep fractions of one stage,
# of two stages 0.2 of the depth apart, of three stages 0.15 apart. The first stage starts anywhere from
# 10% to 70% of the depth: on the embedded 135M model the last token only finds a fact from ~45% of the
# depth on (issue 12); the paper's 7B models could prune earlier (§5.4: pruning later costs less).
GRID = dict(
    first=(0.1, 0.2, 0.3, 0.4, 0.47, 0.55, 0.7), one=(0.1, 0.2, 0.3, 0.5), two=(0.3, 0.4, 0.5), three=(0.5,)
)
QUICK_GRID = dict(first=(0.2, 0.4, 0.55), one=(0.2,), two=(0.3,), three=())


def candidate_stages(quick: bool = False) -> list[tuple[tuple[float, float], ...]]:
    """The built-in sweep (GRID, or QUICK_GRID): 1-3 pruning stages, the same keep fraction at each,
    kept where the estimated prefill compute is 0.3-0.75 of the baseline's (~1.3-3x); sorted by it."""
    grid = QUICK_GRID if quick else GRID
    cands = set()
    for f in grid["first"]:
        cands |= {((f, k),) for k in grid["one"]}
        for steps, keeps in (((0.0, 0.2), grid["two"]), ((0.0, 0.15, 0.3), grid["three"])):
            cands |= {tuple((round(f + d, 2), k) for d in steps) for k in keeps if f + steps[-1] < 0.9}
    cands = [c for c in cands if 0.3 <= stage_compute_fraction(c) <= 0.75]
    return sorted(cands, key=lambda c: (stage_compute_fraction(c), c))


def parse_list(text: str | None, sep: str) -> list[str]:
    """ "a, b,,c" -> ["a", "b", "c"]."""
    return [t.strip() for t in (text or "").split(sep) if t.strip()]
