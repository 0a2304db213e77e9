"""One validation layer for everything a visitor sends (UI widgets, the `/run` API): every refusal is a
ValueError that names the field and the accepted range, and quotes at most ~100 characters of the input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from app.serving import Limits
from lazyllm import LazyConfig
from lazyllm.config import quote
from lazyllm.generate import check_unicode

DEFAULT_LAYERS = 30  # the embedded model's depth: presets are shown before any model loads


def preset_rows(preset: str, num_layers: int = DEFAULT_LAYERS, layer_types=None) -> list[list]:
    """The schedule table for a preset on a model with `num_layers` layers (and its layer types: on a
    hybrid model a preset prunes after its global layers)."""
    cfg = LazyConfig.preset(preset, num_layers=num_layers, layer_types=layer_types)
    return [[int(layer), float(k)] for layer, k in cfg.schedule]


MAX_FOCUS = 500  # characters of a focus span
MAX_EXPECTED = 200  # characters of an expected answer


def check_text(name: str, value, limit: int, required: bool = False) -> str:
    """A text field: a string (None = empty), at most `limit` characters, valid Unicode."""
    value = "" if value is None else value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {quote(value)}")
    if len(value) > limit:
        raise ValueError(f"{name} is too long: {len(value)} characters (at most {limit})")
    if required and not value.strip():
        raise ValueError(f"{name} is empty")
    check_unicode(value)
    return value


def check_prompt(value, limits: Limits, tokenizer=None) -> str:
    """The prompt: non-empty text within the deployment's token limit (characters checked first)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("prompt is empty: type a prompt or pick an example")
    if isinstance(value, str) and len(value) > limits.max_prompt_chars:  # before any tokenizing
        raise ValueError(
            f"prompt too long: {len(value)} characters; this deployment accepts up to {limits.max_prompt_tokens} "
            "tokens (LAZYLLM_MAX_PROMPT_TOKENS)"
        )
    value = check_text("prompt", value, limits.max_prompt_chars)
    if tokenizer is not None:
        n = len(tokenizer(value, split_special_tokens=True)["input_ids"])
        if n > limits.max_prompt_tokens:
            raise ValueError(
                f"prompt too long: {n} tokens; this deployment accepts up to {limits.max_prompt_tokens} "
                "(LAZYLLM_MAX_PROMPT_TOKENS)"
            )
    return value


def check_integer(name: str, value, lo: int, hi: int) -> int:
    """An integer in [lo, hi]: ints, integral finite floats and digit strings; never bools."""
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,9}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {quote(value)}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {quote(value)}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {int(value)}")
    return int(value)


def check_new_tokens(value, limits: Limits) -> int:
    return check_integer("max_new_tokens", value, 1, limits.max_new_tokens)


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {quote(value)}")
    return value


def schedule_input(rows):
    """The schedule widget or API field -> pairs, text, or None (blank = the preset's schedule).

    Table rows [[layer, keep], ...] (blank rows skipped), or text "9:0.7, 19:0.7" (lazyllm's parser).
    """
    if rows is None:
        return None
    if isinstance(rows, str):
        return rows if rows.strip() else None
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    if not isinstance(rows, (list, tuple)):
        raise ValueError(
            f"schedule must be text like 9:0.7, 19:0.7 or rows of [layer, keep]; got {quote(rows)}"
        )
    out = []
    for row in rows[:1000]:
        cells = [c for c in (row if isinstance(row, (list, tuple)) else [row]) if not _blank(c)]
        if not cells:
            continue
        if len(cells) != 2:
            raise ValueError(f"schedule: each row needs a layer and a keep fraction, got {quote(row)}")
        layer = check_integer("schedule layer", _number(cells[0]), 0, 10_000)
        keep = _number(cells[1])
        out.append((layer, keep))
    return tuple(out)


def _blank(cell) -> bool:
    return cell is None or (isinstance(cell, float) and math.isnan(cell)) or str(cell).strip() in ("", "nan")


def _number(cell):
    """A table cell as a number (the table may send strings); non-numbers refused by name."""
    if isinstance(cell, str):
        try:
            return float(cell.strip()) if re.fullmatch(r"\s*[0-9]*\.?[0-9]+\s*", cell) else _refuse(cell)
        except ValueError:
            _refuse(cell)
    if isinstance(cell, bool) or not isinstance(cell, (int, float)) or not math.isfinite(cell):
        _refuse(cell)
    return cell


def _refuse(cell):
    raise ValueError(f"schedule: layer and keep fraction must be numbers, got {quote(cell)}")


def check_focus(value) -> str:
    return check_text("focus span", value, MAX_FOCUS).strip()


def check_expected(value) -> str:
    return check_text("expected answer", value, MAX_EXPECTED).strip()


@dataclass(frozen=True)
class RunRequest:
    """A validated run request: everything a job needs from the visitor."""

    prompt: str
    model: str | None
    preset: str
    schedule: object  # pairs, text or None (the preset's)
    strategy: str | None
    new_tokens: int
    expected: str = ""
    example: str | None = None

    @classmethod
    def parse(
        cls,
        limits: Limits,
        prompt,
        model,
        preset,
        rows,
        strategy,
        max_new_tokens,
        expected_answer="",
        example=None,
    ) -> RunRequest:
        from lazyllm import PRESETS, STRATEGIES

        return cls(
            prompt=check_prompt(prompt, limits),
            model=check_text("model", model, 200) or None,  # the allowlist is checked by ModelHub.get
            preset=check_choice("preset", preset or "default", list(PRESETS)),
            schedule=schedule_input(rows),
            strategy=check_choice("strategy", strategy, list(STRATEGIES)) if strategy else None,
            new_tokens=check_new_tokens(max_new_tokens, limits),
            expected=check_expected(expected_answer),
            example=example if isinstance(example, str) else None,
        )

    def config(self, num_layers: int, layer_types=None, **overrides) -> LazyConfig:
        """The config through lazyllm's one builder (LazyConfig.from_user)."""
        fields = dict(
            preset=self.preset,
            schedule=self.schedule,
            strategy=self.strategy,
            num_layers=num_layers,
            layer_types=layer_types,
        )
        return LazyConfig.from_user(**{**fields, **overrides})
