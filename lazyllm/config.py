"""LazyConfig: the pruning schedule and strategy, validated in one place.

A schedule entry ``(l, k)`` means: after layer ``l`` (0-based) keep the top ``k`` fraction of the
tokens that entered layer ``l`` (LazyLLM §3.2, progressive pruning, Fig. 4a).

A config is either *concrete* (``schedule`` names layers) or *relative* (``stages`` name fractions
of the model's depth, as the presets do); ``resolved(num_layers)`` turns a relative config into a
concrete one for a given model, so one preset fits every depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

STRATEGIES = ("lazy", "static", "random")

# name -> keyword arguments of LazyConfig. Depth fractions: a stage (f, k) prunes after layer
# int(f * L), i.e. after ~f of the depth. "paper" is the paper's 4-stage schematic (Fig. 4a).
# "default" and "aggressive" were chosen with `python -m lazyllm tune` on the dev split and checked on
# the test split (docs/results/); "question" is beyond the paper (scores from the last 16 queries).
PRESETS: dict[str, dict] = {
    "baseline": dict(stages=()),
    "paper": dict(stages=((0.3, 0.7), (0.6, 0.7), (0.9, 0.7))),
    "default": dict(stages=((0.2, 0.5), (0.4, 0.5), (0.6, 0.5))),
    "aggressive": dict(stages=((0.2, 0.3), (0.5, 0.3))),
    "question": dict(stages=((0.2, 0.3), (0.5, 0.3)), window=16),
}

PRESET_NOTES: dict[str, str] = {
    "baseline": "no pruning: every token at every layer (the reference model)",
    "paper": "the paper's method and schematic: prune after ~30/60/90% of the depth, keep 70% each time",
    "default": "the paper's method, tuned schedule: keep 50% after ~20/40/60% of the depth",
    "aggressive": "the paper's method, keep 30% after ~20% and ~50% of the depth (faster, less accurate)",
    "question": "beyond the paper: aggressive schedule, importance from the last 16 queries (the question)",
}


def _check_keep(name: str, keep: float) -> None:
    if not isinstance(keep, (int, float)) or isinstance(keep, bool) or math.isnan(keep):
        raise ValueError(f"{name}: keep fraction must be a number in (0, 1], got {keep!r}")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"{name}: keep fraction must be in (0, 1], got {keep!r}")


def _as_pairs(name: str, entries) -> tuple[tuple, ...]:
    try:
        pairs = tuple((a, b) for a, b in entries)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of (layer, keep fraction) pairs, got {entries!r}") from None
    return pairs


def stage_layer(fraction: float, num_layers: int) -> int:
    """Layer index for a depth fraction: prune after layer int(f * L), kept in [0, L-2]."""
    return min(max(int(fraction * num_layers), 0), num_layers - 2)


@dataclass(frozen=True)
class LazyConfig:
    """How LazyLLM prunes.

    schedule: ((layer, keep_fraction), ...) with layers strictly increasing; empty = baseline.
    stages:   ((depth_fraction, keep_fraction), ...) instead of layers; resolved per model.
    strategy: "lazy" (the paper), "static" (prune once at prefill, never revive; paper Table 1),
              "random" (same budget, random tokens; paper Table 1).
    Scoring variants, beyond the paper (w = 1, pool = 1, sinks = 0 is the paper's method):
    window:   importance averaged over the queries of the last `window` context tokens.
    pool:     max-pool scores over `pool` neighbouring positions so a number or name stays whole.
    sinks:    always keep the first `sinks` tokens (attention sinks).
    """

    schedule: tuple[tuple[int, float], ...] = ()
    strategy: str = "lazy"
    stages: tuple[tuple[float, float], ...] | None = None
    window: int = 1
    pool: int = 1
    sinks: int = 0
    name: str = "custom"
    num_layers: int | None = field(default=None, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "schedule", _as_pairs("schedule", self.schedule))
        if self.stages is not None:
            object.__setattr__(self, "stages", _as_pairs("stages", self.stages))
            if self.schedule:
                raise ValueError("give either schedule (layers) or stages (depth fractions), not both")
            self._check_stages()
        self._check_schedule()
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}")
        for name, lo in (("window", 1), ("pool", 1), ("sinks", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= 4096:
                raise ValueError(f"{name} must be an integer in [{lo}, 4096], got {value!r}")
        if self.pool % 2 == 0:
            raise ValueError(f"pool must be odd (a window centred on each token), got {self.pool}")

    def _check_stages(self):
        last = -1.0
        for f, k in self.stages:
            if not isinstance(f, (int, float)) or math.isnan(f) or not 0.0 <= f < 1.0:
                raise ValueError(f"stages: depth fraction must be in [0, 1), got {f!r}")
            if f <= last:
                raise ValueError(f"stages: depth fractions must be strictly increasing, got {self.stages}")
            _check_keep("stages", k)
            last = f

    def _check_schedule(self):
        last = -1
        for layer, k in self.schedule:
            if not isinstance(layer, int) or isinstance(layer, bool):
                raise ValueError(f"schedule: layer must be an integer, got {layer!r}")
            if layer < 0:
                raise ValueError(f"schedule: layer must be >= 0, got {layer}")
            if self.num_layers is not None and layer > self.num_layers - 2:
                raise ValueError(
                    f"schedule: layer {layer} out of range: this model has {self.num_layers} layers, "
                    f"so pruning layers must be in [0, {self.num_layers - 2}]"
                )
            if layer <= last:
                raise ValueError(
                    f"schedule: layers must be strictly increasing (sorted, no repeats), got {list(self.schedule)}"
                )
            _check_keep("schedule", k)
            last = layer

    @classmethod
    def preset(cls, name: str, num_layers: int | None = None, **overrides) -> LazyConfig:
        """A named preset ("baseline", "paper", "default", "aggressive")."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
        cfg = cls(**{**PRESETS[name], "name": name, **overrides})
        return cfg.resolved(num_layers) if num_layers is not None else cfg

    def resolved(self, num_layers: int) -> LazyConfig:
        """A concrete copy for a model with `num_layers` layers (checks layer ranges)."""
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2, got {num_layers}")
        if self.stages is None:
            return replace(self, num_layers=num_layers)
        layers = [stage_layer(f, num_layers) for f, _ in self.stages]
        merged: dict[int, float] = {}
        for layer, (_, k) in zip(layers, self.stages, strict=True):
            merged[layer] = merged.get(layer, 1.0) * k  # two stages on one layer: prune twice
        return replace(self, schedule=tuple(merged.items()), stages=None, num_layers=num_layers)

    @property
    def is_baseline(self) -> bool:
        entries = self.stages if self.stages is not None else self.schedule
        return all(k == 1.0 for _, k in entries)

    @property
    def variant(self) -> str:
        """Which scoring ran: "paper" (last query only) or the variant's options."""
        if (self.window, self.pool, self.sinks) == (1, 1, 0):
            return "paper"
        return f"window={self.window},pool={self.pool},sinks={self.sinks}"

    def describe(self) -> str:
        sched = ", ".join(f"{layer}:{k:g}" for layer, k in self.schedule) or "none"
        return f"{self.name} [{self.strategy}; schedule {sched}; scoring {self.variant}]"


def parse_schedule(text: str) -> tuple[tuple[int, float], ...]:
    """Parse "9:0.7,19:0.7" into ((9, 0.7), (19, 0.7)); empty text = no pruning."""
    text = (text or "").strip()
    if not text:
        return ()
    pairs = []
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if ":" not in item:
            raise ValueError(f"schedule: entries are layer:keep (e.g. 9:0.7), got {item!r}")
        layer, keep = item.split(":", 1)
        try:
            pairs.append((int(layer), float(keep)))
        except ValueError:
            raise ValueError(f"schedule: entries are layer:keep (e.g. 9:0.7), got {item!r}") from None
    return tuple(pairs)
