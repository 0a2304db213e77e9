"""LazyConfig: the pruning schedule, the strategy and the scoring, validated in one place.

A schedule entry ``(l, k)`` means: after layer ``l`` (0-based) keep the top ``k`` fraction of the
tokens that entered layer ``l`` (LazyLLM §3.2, progressive pruning, Fig. 4a).

A config is either *concrete* (``schedule`` names layers) or *relative* (``stages`` name fractions
of the model's depth, as the presets do); ``resolved(num_layers)`` turns a relative config into a
concrete one for a given model, so one preset fits every depth.

On a model with sliding-window layers (Gemma 3) only global-attention layers prune: a schedule that
names a sliding-window layer is refused, and a depth fraction lands on the nearest global layer
(``scoring_layers``, docs/families.md).

``LazyConfig.from_user`` is the one way user input (app, CLI, bench) becomes a config: a preset,
with every field the user set overriding it; the config's ``label`` says what was changed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from .strategies import STRATEGIES as _STRATEGY_CLASSES

STRATEGIES = tuple(_STRATEGY_CLASSES)

# name -> keyword arguments of LazyConfig. Depth fractions: a stage (f, k) prunes after layer
# int(f * L), i.e. after ~f of the depth. "paper" is the paper's 4-stage schematic (Fig. 4a).
# "default" (accuracy first) and "fast" were chosen with `python -m lazyllm tune` on the dev split and
# checked on the test split (docs/results/README.md); "question" is beyond the paper (scores from the
# last 16 queries).
PRESETS: dict[str, dict] = {
    "baseline": dict(stages=()),
    "paper": dict(stages=((0.3, 0.7), (0.6, 0.7), (0.9, 0.7))),
    "default": dict(stages=((0.4, 0.4), (0.6, 0.4))),
    "fast": dict(stages=((0.4, 0.3), (0.6, 0.3))),
    "question": dict(stages=((0.2, 0.3), (0.5, 0.3)), window=16),
}

PRESET_NOTES: dict[str, str] = {
    "baseline": "no pruning: every token at every layer (the reference model)",
    "paper": "the paper's method and schematic: prune after ~30/60/90% of the depth, keep 70% each time",
    "default": "accuracy first: the paper's method, keep 40% after ~40% and ~60% of the depth, where this "
    "model's last token starts to find the answer",
    "fast": "the paper's method, keep 30% after ~40% and ~60% of the depth: the fastest schedule that "
    "survived the tune's accuracy screens",
    "question": "beyond the paper: keep 30% after ~20% and ~50% of the depth, importance from the last 16 "
    "queries (the question)",
}

VARIANT_LIMIT = 4096  # largest window / pool / sinks accepted


def quote(value, limit: int = 100) -> str:
    """repr() of a user's value for an error message, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _check_keep(name: str, keep) -> None:
    if not isinstance(keep, (int, float)) or isinstance(keep, bool) or math.isnan(keep):
        raise ValueError(f"{name}: keep fraction must be a number in (0, 1], got {quote(keep)}")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"{name}: keep fraction must be in (0, 1], got {quote(keep)}")


def _as_pairs(name: str, entries) -> tuple[tuple, ...]:
    if isinstance(entries, (str, bytes)):
        raise ValueError(f"{name} must be a list of (layer, keep fraction) pairs, got {quote(entries)}")
    try:
        return tuple((a, b) for a, b in entries)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a list of (layer, keep fraction) pairs, got {quote(entries)}"
        ) from None


def stage_layer(fraction: float, num_layers: int) -> int:
    """Layer index for a depth fraction: prune after layer int(f * L), kept in [0, L-2]."""
    return min(max(int(fraction * num_layers), 0), num_layers - 2)


def scoring_layers(num_layers: int, layer_types=None) -> list[int]:
    """The layers after which the method may prune: [0, L-2], and only global layers where some are
    sliding-window layers (layer_types: "sliding" / "full" per layer, None: all global).

    A sliding-window layer's last token attends to the last `window` positions only: its attention
    (the importance of §3.2, Eq. 1) gives every older token no weight, which judges nothing about them,
    and a token pruned there is gone from the later global layers that do read it. A global layer's
    last token sees the whole context, as in the paper. docs/families.md gives the reasons in full.
    """
    return [la for la in range(num_layers - 1) if layer_types is None or layer_types[la] == "full"]


def nearest_scoring_layer(layer: int, num_layers: int, layer_types=None) -> int:
    """Where a depth fraction's layer prunes on this model: the nearest scoring layer, ties to the later
    one (pruning later costs less accuracy, §5.4)."""
    layers = scoring_layers(num_layers, layer_types)
    if not layers:
        raise ValueError(
            "schedule: this model has no global-attention layer before its last, so no layer can score the "
            "whole context and nothing can be pruned (docs/families.md); use the baseline"
        )
    return min(layers, key=lambda la: (abs(la - layer), -la))


def _check_layer_types(layer_types, num_layers: int) -> tuple[str, ...] | None:
    if layer_types is None:
        return None
    kinds = tuple(layer_types)
    if len(kinds) != num_layers or not set(kinds) <= {"sliding", "full"}:
        raise ValueError(
            f"layer_types must give 'sliding' or 'full' for each of the {num_layers} layers, got {quote(kinds)}"
        )
    return kinds


def _format(key: str, value) -> str:
    if key == "schedule":
        return format_schedule(value)
    if key == "stages":
        return format_schedule(value) + " of the depth"
    return str(value)


def format_schedule(schedule) -> str:
    """((6, 0.5), (12, 0.5)) -> "6:0.5, 12:0.5" (the form parse_schedule reads); "none" if empty."""
    return ", ".join(f"{layer}:{k:g}" for layer, k in schedule) or "none"


@dataclass(frozen=True)
class LazyConfig:
    """How LazyLLM prunes.

    schedule: ((layer, keep_fraction), ...) with layers strictly increasing; empty = baseline.
    stages:   ((depth_fraction, keep_fraction), ...) instead of layers; resolved per model.
    strategy: "lazy" (the paper), "static" (prune once at prefill, never revive; paper Table 1),
              "random" (same budget, random tokens; paper Table 1). See strategies.py.
    Scoring variants, beyond the paper (w = 1, pool = 1, sinks = 0 is the paper's method):
    window:   importance averaged over the queries of the last `window` context tokens.
    pool:     max-pool scores over `pool` neighbouring positions so a number or name stays whole.
    sinks:    always keep the first `sinks` tokens (attention sinks).
    num_layers, layer_types: the model a concrete config was resolved for (`resolved`); on a model
              with sliding-window layers, only its global layers may be in the schedule.
    name:     the preset this is, or "custom"; a custom config made by `from_user` remembers the
              preset it started from (`base`) and what was changed (`changes`).
    """

    schedule: tuple[tuple[int, float], ...] = ()
    strategy: str = "lazy"
    stages: tuple[tuple[float, float], ...] | None = None
    window: int = 1
    pool: int = 1
    sinks: int = 0
    name: str = "custom"
    base: str | None = field(default=None, compare=False)
    changes: tuple[str, ...] = field(default=(), compare=False)
    num_layers: int | None = field(default=None, compare=False)
    layer_types: tuple[str, ...] | None = field(default=None, compare=False)  # "sliding"/"full" per layer

    def __post_init__(self):
        object.__setattr__(self, "schedule", _as_pairs("schedule", self.schedule))
        if self.stages is not None:
            object.__setattr__(self, "stages", _as_pairs("stages", self.stages))
            if self.schedule:
                raise ValueError("give either schedule (layers) or stages (depth fractions), not both")
            self._check_stages()
        self._check_schedule()
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {quote(self.strategy)}")
        for name, lo in (("window", 1), ("pool", 1), ("sinks", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= VARIANT_LIMIT:
                raise ValueError(f"{name} must be an integer in [{lo}, {VARIANT_LIMIT}], got {quote(value)}")
        if self.pool % 2 == 0:
            raise ValueError(f"pool must be odd (a window centred on each token), got {self.pool}")

    def _check_stages(self):
        last = -1.0
        for f, k in self.stages:
            if not isinstance(f, (int, float)) or isinstance(f, bool) or math.isnan(f) or not 0.0 <= f < 1.0:
                raise ValueError(f"stages: depth fraction must be in [0, 1), got {quote(f)}")
            if f <= last:
                raise ValueError(
                    f"stages: depth fractions must be strictly increasing, got {quote(self.stages)}"
                )
            _check_keep("stages", k)
            last = f

    def _check_schedule(self):
        last = -1
        for layer, k in self.schedule:
            if not isinstance(layer, int) or isinstance(layer, bool):
                raise ValueError(f"schedule: layer must be an integer, got {quote(layer)}")
            if layer < 0:
                raise ValueError(f"schedule: layer must be >= 0, got {layer}")
            if self.num_layers is not None and layer > self.num_layers - 2:
                raise ValueError(
                    f"schedule: layer {layer} out of range: this model has {self.num_layers} layers, "
                    f"so pruning layers must be in [0, {self.num_layers - 2}]"
                )
            if layer <= last:
                raise ValueError(
                    "schedule: layers must be strictly increasing (sorted, no repeats), "
                    f"got {quote(list(self.schedule))}"
                )
            self._check_scoring_layer(layer)
            _check_keep("schedule", k)
            last = layer

    def _check_scoring_layer(self, layer: int) -> None:
        """Refuse a sliding-window layer in the schedule (see scoring_layers)."""
        kinds = self.layer_types
        if kinds is None or layer >= len(kinds) or kinds[layer] == "full":
            return
        allowed = ", ".join(map(str, scoring_layers(len(kinds), kinds))) or "none"
        raise ValueError(
            f"schedule: layer {layer} is a sliding-window layer: its last token sees only the most recent "
            "positions, so its importance cannot rank the whole context (docs/families.md); this model "
            f"prunes only after its global-attention layers: {allowed}"
        )

    @classmethod
    def preset(cls, name: str, num_layers: int | None = None, layer_types=None, **overrides) -> LazyConfig:
        """A named preset (see PRESETS); resolved for `num_layers` layers (and `layer_types`) when given."""
        if not isinstance(name, str) or name not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {quote(name)}")
        cfg = cls(**{**PRESETS[name], "name": name, **overrides})
        return cfg.resolved(num_layers, layer_types) if num_layers is not None else cfg

    @classmethod
    def from_user(
        cls,
        preset: str | None = None,
        schedule=None,
        strategy: str | None = None,
        window: int | None = None,
        pool: int | None = None,
        sinks: int | None = None,
        num_layers: int | None = None,
        stages=None,
        layer_types=None,
    ) -> LazyConfig:
        """The config a user asked for: the app, the CLI and bench build configs only here.

        Starts from `preset` ("default" when None). Every other argument overrides the preset's
        value; None keeps it. An override equal to the preset's value is no change, so a schedule
        equal to the preset's keeps the preset's name and scoring variant. Any change makes the
        config "custom", and its `label` says what changed. `schedule` is pairs or text
        ("9:0.7, 19:0.7"); comparing it with a preset's depth fractions needs `num_layers`.
        `stages` (depth fractions, pairs or text "0.3:0.7, 0.6:0.7") replace the schedule on any depth.
        `layer_types` (with num_layers; LoadedModel.layer_types): the model's sliding-window layers,
        which a schedule may not name and where no preset prunes (see `resolved`).
        """
        base = cls.preset("default" if preset is None else preset)
        given = dict(strategy=strategy, window=window, pool=pool, sinks=sinks)
        fields = {k: v for k, v in given.items() if v is not None}
        if schedule is not None and stages is not None:
            raise ValueError("give either schedule (layers) or stages (depth fractions), not both")
        if schedule is not None:  # layers: compared with the preset's layers on this model
            if num_layers is None:
                raise ValueError(
                    "num_layers: the model's depth is needed to compare a schedule with a preset's"
                )
            base = base.resolved(num_layers, layer_types)
            fields["schedule"] = parse_schedule(schedule) if isinstance(schedule, str) else schedule
        if stages is not None:
            fields["stages"] = parse_stages(stages) if isinstance(stages, str) else stages
        wanted = replace(base, **fields)  # validates every override
        changes = tuple(
            f"{key} {_format(key, getattr(wanted, key))}"
            for key in ("schedule", "stages", "strategy", "window", "pool", "sinks")
            if getattr(wanted, key) != getattr(base, key)
        )
        cfg = replace(wanted, name="custom", base=base.name, changes=changes) if changes else base
        return cfg.resolved(num_layers, layer_types) if num_layers is not None else cfg

    def resolved(self, num_layers: int, layer_types=None) -> LazyConfig:
        """A concrete copy for a model with `num_layers` layers (checks layer ranges).

        layer_types: "sliding" / "full" per layer (LoadedModel.layer_types), None when all are global.
        With sliding-window layers, a schedule may name only global layers, and each depth fraction
        lands on the nearest global layer (nearest_scoring_layer).
        """
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2, got {num_layers}")
        kinds = _check_layer_types(layer_types, num_layers)
        if self.stages is None:
            return replace(self, num_layers=num_layers, layer_types=kinds)
        layers = [stage_layer(f, num_layers) for f, _ in self.stages]
        if kinds is not None and self.stages:
            layers = [nearest_scoring_layer(layer, num_layers, kinds) for layer in layers]
        merged: dict[int, float] = {}
        for layer, (_, k) in zip(layers, self.stages, strict=True):
            merged[layer] = merged.get(layer, 1.0) * k  # two stages on one layer: prune twice
        return replace(
            self, schedule=tuple(merged.items()), stages=None, num_layers=num_layers, layer_types=kinds
        )

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

    @property
    def label(self) -> str:
        """What ran, in a few words: the preset's name, or "custom (default with schedule 12:0.4)"."""
        if self.name != "custom" or not self.changes:
            return self.name
        return f"custom ({self.base} with {'; '.join(self.changes)})"

    def describe(self) -> str:
        sched = "schedule " + _format("schedule", self.schedule)
        if self.stages is not None:
            sched = "stages " + _format("stages", self.stages)
        return f"{self.label} [{self.strategy}; {sched}; scoring {self.variant}]"


def parse_stages(text: str) -> tuple[tuple[float, float], ...]:
    """ "0.3:0.7, 0.6:0.7" -> ((0.3, 0.7), (0.6, 0.7)): depth fraction : keep fraction, comma-separated."""
    if not isinstance(text, str):
        raise ValueError(f"stages: expected text like 0.3:0.7, 0.6:0.7, got {quote(text)}")
    pairs = []
    for item in (t.strip() for t in text.split(",")):
        m = re.fullmatch(r"([0-9]*\.?[0-9]+):([0-9]*\.?[0-9]+)", item)
        if m is None:
            raise ValueError(f"stages: entries are depth:keep (e.g. 0.3:0.7), refused {quote(item)}")
        pairs.append((float(m.group(1)), float(m.group(2))))
    return tuple(pairs)


_ENTRY = re.compile(r"([0-9]{1,6}):([0-9]{1,6}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})")
MAX_SCHEDULE_TEXT = 10_000


def parse_schedule(text: str) -> tuple[tuple[int, float], ...]:
    """Parse "9:0.7, 19:0.7" into ((9, 0.7), (19, 0.7)); empty text = no pruning.

    Exactly the documented form: comma-separated `layer:keep` pairs, the layer in ASCII digits,
    the keep fraction a plain decimal (0.7, .7, 1); spaces around entries are ignored.
    """
    if not isinstance(text, str):
        raise ValueError(f"schedule: expected text like 9:0.7, 19:0.7, got {quote(text)}")
    if len(text) > MAX_SCHEDULE_TEXT:
        raise ValueError(f"schedule: too long ({len(text)} characters; at most {MAX_SCHEDULE_TEXT})")
    if not text.strip():
        return ()
    pairs = []
    for item in text.split(","):
        m = _ENTRY.fullmatch(item.strip(" \t"))
        if m is None:
            raise ValueError(
                f"schedule: entries are layer:keep with ASCII digits, comma-separated (e.g. 9:0.7, 19:0.7); "
                f"refused {quote(item.strip())}"
            )
        pairs.append((int(m.group(1)), float(m.group(2))))
    return tuple(pairs)
