"""The Trace of an instrumented run: every decision LazyLLM made, step by step and layer by layer.

Field names are a contract (README, "The trace"): the app, the CLI and outside scripts read them.
At step t the context holds the prompt and the t tokens generated before it: n = prompt_len + t,
and position n - 1 is the step's last token. Step 0 is prefill.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

TRACE_VERSION = 1
MAX_TRACE_BYTES = 20 * 1024 * 1024


def round_scores(scores: np.ndarray) -> np.ndarray:
    """Round importance scores to 6 significant digits (float64, NaN kept).

    Monotone, so it keeps the order of scores, and short in JSON, so traces stay small;
    float64 repr round-trips exactly through JSON.
    """
    x = np.asarray(scores, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = np.floor(np.log10(np.abs(x)))
        exp = np.where(np.isfinite(exp), exp, 0.0)
        scale = 10.0 ** (5 - exp)
        return np.round(x * scale) / scale


@dataclass
class StepTrace:
    """One step (0 = prefill). Arrays are numpy; dicts are keyed by layer index."""

    step: int
    token_id: int
    depth: np.ndarray  # int [n]: layers the token was selected in (selected at l iff depth > l)
    scores: dict[int, np.ndarray]  # float [n] at each pruning layer; NaN where not selected
    computed: dict[int, np.ndarray]  # int [m_l]: positions whose KV was computed at layer l
    revived: dict[int, np.ndarray]  # int: positions computed at l from the Aux Cache (⊆ computed)
    kv_len: np.ndarray  # int [L]: KV cache size per layer after the step
    aux_len: np.ndarray  # int [L]: Aux Cache size per layer after the step
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return int(self.depth.shape[0])

    def selected(self, layer: int) -> np.ndarray:
        """Positions selected at `layer` in this step."""
        return np.flatnonzero(self.depth > layer)

    def to_dict(self, scores: bool = True) -> dict:
        """JSON-ready; NaN scores (not selected) become null. `scores=False`: an empty scores table."""
        return {
            "step": self.step,
            "token_id": self.token_id,
            "depth": self.depth.tolist(),
            "scores": self.scores_dict() if scores else {},
            "computed": {str(k): v.tolist() for k, v in self.computed.items()},
            "revived": {str(k): v.tolist() for k, v in self.revived.items()},
            "kv_len": self.kv_len.tolist(),
            "aux_len": self.aux_len.tolist(),
            "seconds": self.seconds,
        }

    def scores_dict(self) -> dict[str, list]:
        """The scores table as JSON-ready lists, null where a token was not selected (NaN)."""
        out = {}
        for layer, a in self.scores.items():
            values = a.tolist()
            for i in np.flatnonzero(np.isnan(a)).tolist():
                values[i] = None
            out[str(layer)] = values
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = "step") -> StepTrace:
        def layers(name):
            table = d[name]
            if not isinstance(table, dict):
                raise ValueError(f"trace: {where}.{name} must be an object keyed by layer")
            return {layer_key(k, f"{where}.{name}"): v for k, v in table.items()}

        return cls(
            step=exact_int(d["step"], f"{where}.step"),
            token_id=exact_int(d["token_id"], f"{where}.token_id"),
            depth=int_array(d["depth"], f"{where}.depth"),
            scores={k: float_array(v, f"{where}.scores[{k}]") for k, v in layers("scores").items()},
            computed={k: int_array(v, f"{where}.computed[{k}]") for k, v in layers("computed").items()},
            revived={k: int_array(v, f"{where}.revived[{k}]") for k, v in layers("revived").items()},
            kv_len=int_array(d["kv_len"], f"{where}.kv_len"),
            aux_len=int_array(d["aux_len"], f"{where}.aux_len"),
            seconds=finite_float(d["seconds"], f"{where}.seconds"),
        )


def layer_key(key: str, name: str) -> int:
    """A layer index written as a JSON object key: ASCII digits only."""
    if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 6):
        raise ValueError(f"trace: {name} has a key that is not a layer index: {str(key)[:20]!r}")
    return int(key)


def exact_int(value, name: str) -> int:
    """An integer from JSON: an int or an integral float; never a string or a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"trace: {name} must be an integer, got {str(value)[:40]!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError(f"trace: {name} must be an integer, got {value!r}")
    return int(value)


def finite_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"trace: {name} must be a finite number, got {str(value)[:40]!r}")
    return float(value)


def int_array(values, name: str) -> np.ndarray:
    """int64 [k] from a JSON list of integers (integral floats accepted; strings, bools, fractions refused)."""
    if not isinstance(values, list):
        raise ValueError(f"trace: {name} must be a list of integers")
    a = np.asarray(values) if values else np.zeros(0, dtype=np.int64)
    if a.ndim != 1 or a.dtype.kind not in "iuf" or (a.dtype.kind == "f" and not np.all(np.mod(a, 1) == 0)):
        raise ValueError(f"trace: {name} must be a list of integers")
    return a.astype(np.int64)


def layer_kinds(values) -> list[str] | None:
    """Trace.layer_types from JSON: null, or a list of "sliding" / "full"."""
    if values is None:
        return None
    if not isinstance(values, list) or any(v not in ("sliding", "full") for v in values):
        raise ValueError('trace: layer_types must be null or a list of "sliding" / "full"')
    return list(values)


def float_array(values, name: str) -> np.ndarray:
    """float64 [k] from a JSON list of numbers and nulls (NaN)."""
    if not isinstance(values, list):
        raise ValueError(f"trace: {name} must be a list of numbers or nulls")
    if any(isinstance(x, bool) or not (x is None or isinstance(x, (int, float))) for x in values):
        raise ValueError(f"trace: {name} must be a list of numbers or nulls")
    return np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)


@dataclass
class Trace:
    """What an instrumented generation did. `steps[0]` is prefill, `steps[t]` decode step t."""

    num_layers: int
    prompt_len: int
    tokens: list[str]
    schedule: list[list]
    steps: list[StepTrace] = field(default_factory=list)
    strategy: str = "lazy"
    variant: str = "paper"
    model: str = ""
    config_name: str = "custom"
    config_label: str = ""  # LazyConfig.label: the preset, or what a custom config changed
    layer_types: list[str] | None = None  # "sliding" / "full" per layer (Gemma 3); None: all full
    sliding_window: int | None = None  # positions a sliding layer's query sees; None without them

    def to_dict(self, steps: bool = True) -> dict:
        """JSON-ready. `steps=False` leaves the steps out (for writers that add them themselves)."""
        return {
            "version": TRACE_VERSION,
            "num_layers": self.num_layers,
            "prompt_len": self.prompt_len,
            "tokens": list(self.tokens),
            "schedule": [[int(layer), float(k)] for layer, k in self.schedule],
            "strategy": self.strategy,
            "variant": self.variant,
            "model": self.model,
            "config_name": self.config_name,
            "config_label": self.config_label,
            "layer_types": None if self.layer_types is None else list(self.layer_types),
            "sliding_window": self.sliding_window,
            **({"steps": [s.to_dict() for s in self.steps]} if steps else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict) -> Trace:
        version = d.get("version", TRACE_VERSION)
        if version != TRACE_VERSION:
            raise ValueError(
                f"trace: version {str(version)[:20]!r} is not supported (this lazyllm reads version {TRACE_VERSION})"
            )
        if not isinstance(d["tokens"], list) or not isinstance(d["steps"], list):
            raise ValueError("trace: tokens and steps must be lists")
        trace = cls(
            num_layers=exact_int(d["num_layers"], "num_layers"),
            prompt_len=exact_int(d["prompt_len"], "prompt_len"),
            tokens=[str(t) for t in d["tokens"]],
            schedule=[
                [exact_int(layer, "schedule layer"), finite_float(k, "schedule keep")]
                for layer, k in d["schedule"]
            ],
            steps=[StepTrace.from_dict(s, f"steps[{i}]") for i, s in enumerate(d["steps"])],
            strategy=str(d.get("strategy", "lazy")),
            variant=str(d.get("variant", "paper")),
            model=str(d.get("model", "")),
            config_name=str(d.get("config_name", "custom")),
            config_label=str(d.get("config_label", "")),
            layer_types=layer_kinds(d.get("layer_types")),
            sliding_window=None
            if d.get("sliding_window") is None
            else exact_int(d["sliding_window"], "sliding_window"),
        )
        trace.validate()
        return trace

    @classmethod
    def from_json(cls, text: str | bytes) -> Trace:
        """Parse and validate a trace; raises ValueError naming what is wrong."""
        return cls.from_object(parse_json_object(text))

    @classmethod
    def from_object(cls, data: dict) -> Trace:
        """A trace file's parsed JSON object (`parse_json_object`) -> Trace; ValueError names what is wrong."""
        try:
            return cls.from_dict(data)
        except KeyError as e:
            raise ValueError(f"trace is missing the field {e.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError, OverflowError) as e:
            if isinstance(e, ValueError) and str(e).startswith("trace"):
                raise
            raise ValueError(f"trace has a field of the wrong type: {e}") from None

    def validate(self) -> None:
        """Check that the arrays agree in length (a hand-edited or truncated file may not)."""
        L, p = self.num_layers, self.prompt_len
        if L < 1 or p < 1:
            raise ValueError(f"trace: num_layers and prompt_len must be >= 1, got {L} and {p}")
        if self.layer_types is not None and len(self.layer_types) != L:
            raise ValueError(f"trace: layer_types has {len(self.layer_types)} entries, expected {L}")
        if self.sliding_window is not None and self.sliding_window < 1:
            raise ValueError(f"trace: sliding_window must be >= 1 or null, got {self.sliding_window}")
        if not self.steps:
            raise ValueError("trace: steps is empty (need at least the prefill step)")
        if len(self.tokens) < p + len(self.steps) - 1:
            raise ValueError(
                f"trace: tokens has {len(self.tokens)} entries, expected >= {p + len(self.steps) - 1}"
            )
        for t, s in enumerate(self.steps):
            n = p + t
            if s.step != t:
                raise ValueError(f"trace: steps[{t}].step is {s.step}, expected {t}")
            if s.depth.shape[0] != n:
                raise ValueError(f"trace: steps[{t}].depth has length {s.depth.shape[0]}, expected {n}")
            if s.depth.size and (s.depth.min() < 0 or s.depth.max() > L):
                raise ValueError(f"trace: steps[{t}].depth must be in [0, {L}]")
            if s.kv_len.shape[0] != L or s.aux_len.shape[0] != L:
                raise ValueError(f"trace: steps[{t}].kv_len/aux_len must have {L} entries")
            for name, table in (("scores", s.scores), ("computed", s.computed), ("revived", s.revived)):
                for layer, arr in table.items():
                    if not 0 <= layer < L:
                        raise ValueError(f"trace: steps[{t}].{name} has layer {layer} outside [0, {L - 1}]")
                    if name == "scores" and arr.shape[0] != n:
                        raise ValueError(
                            f"trace: steps[{t}].scores[{layer}] has length {arr.shape[0]}, expected {n}"
                        )
                    if name != "scores" and arr.size and (arr.min() < 0 or arr.max() >= n):
                        raise ValueError(
                            f"trace: steps[{t}].{name}[{layer}] has positions outside [0, {n - 1}]"
                        )

    # --- views the app and the tests use -------------------------------------------------------

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    def prompt_compute_fraction(self) -> float:
        """(prompt token, layer) computations over the generation / the baseline's (L * prompt_len)."""
        return int(self.cumulative_prompt_computations()[-1]) / (self.num_layers * self.prompt_len)

    def extra_token_layers(self) -> list[int]:
        """Per step: token-layer computations beyond the baseline's (the step's new tokens at every
        layer): at a decode step, the revived tokens' work (§3.3); 0 at a step that pruned nothing."""
        out = []
        for s in self.steps:
            new = self.prompt_len if s.step == 0 else 1  # what the baseline computes at every layer
            out.append(sum(len(v) for v in s.computed.values()) - new * self.num_layers)
        return out

    def cumulative_prompt_computations(self) -> np.ndarray:
        """int [steps]: prompt-token computations done up to and including each step."""
        per = [sum(int((v < self.prompt_len).sum()) for v in s.computed.values()) for s in self.steps]
        return np.cumsum(per)


def parse_json_object(text: str | bytes) -> dict:
    """A trace file's text (at most MAX_TRACE_BYTES, UTF-8, a BOM allowed) parsed once, as a JSON object."""
    if isinstance(text, bytes):
        if len(text) > MAX_TRACE_BYTES:
            raise ValueError(f"trace file too large: {len(text)} bytes (limit {MAX_TRACE_BYTES})")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValueError(f"trace file is not valid UTF-8: {e}") from None
    if len(text) > MAX_TRACE_BYTES:
        raise ValueError(f"trace file too large: {len(text)} characters (limit {MAX_TRACE_BYTES})")
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as e:
        raise ValueError(f"trace file is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError("trace file is not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("trace file must hold a JSON object with num_layers, prompt_len, tokens, steps")
    return data
