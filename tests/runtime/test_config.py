"""LazyConfig validation and presets: bad values raise ValueError naming the field and the range."""

from __future__ import annotations

import math

import pytest

from lazyllm import PRESETS, LazyConfig, parse_schedule
from lazyllm.config import stage_layer


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(schedule=((3, 0.0),)), "keep fraction must be in (0, 1]"),
        (dict(schedule=((3, -0.5),)), "keep fraction must be in (0, 1]"),
        (dict(schedule=((3, 1.5),)), "keep fraction must be in (0, 1]"),
        (dict(schedule=((3, math.nan),)), "keep fraction must be a number"),
        (dict(schedule=((3, "x"),)), "keep fraction must be a number"),
        (dict(schedule=((5, 0.5), (3, 0.5))), "strictly increasing"),
        (dict(schedule=((3, 0.5), (3, 0.5))), "strictly increasing"),
        (dict(schedule=((-1, 0.5),)), "layer must be >= 0"),
        (dict(schedule=((1.5, 0.5),)), "layer must be an integer"),
        (dict(schedule=(3, 0.5)), "list of (layer, keep fraction) pairs"),
        (dict(strategy="greedy"), "strategy must be one of lazy, static, random"),
        (dict(window=0), "window must be an integer in [1, 4096]"),
        (dict(pool=2), "pool must be odd"),
        (dict(sinks=-1), "sinks must be an integer in [0, 4096]"),
        (dict(stages=((0.5, 0.5), (0.3, 0.5))), "strictly increasing"),
        (dict(stages=((1.2, 0.5),)), "depth fraction must be in [0, 1)"),
        (dict(stages=((0.2, 0.5),), schedule=((1, 0.5),)), "not both"),
    ],
)
def test_bad_config_values_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        LazyConfig(**kwargs)


def test_layer_out_of_range_for_the_model():
    with pytest.raises(ValueError, match=r"layer 29 out of range.*30 layers.*\[0, 28\]"):
        LazyConfig(schedule=((29, 0.5),)).resolved(30)
    assert LazyConfig(schedule=((28, 0.5),)).resolved(30).schedule == ((28, 0.5),)


def test_unknown_preset():
    with pytest.raises(ValueError, match="preset must be one of baseline, paper, default, fast, question"):
        LazyConfig.preset("aggressive")


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("layers", [4, 12, 30, 80])
def test_presets_scale_to_any_depth(name, layers):
    cfg = LazyConfig.preset(name, num_layers=layers)
    assert all(0 <= layer <= layers - 2 for layer, _ in cfg.schedule)
    assert [layer for layer, _ in cfg.schedule] == sorted({layer for layer, _ in cfg.schedule})
    assert cfg.is_baseline == (name == "baseline")


def test_paper_preset_prunes_at_30_60_90_percent():
    cfg = LazyConfig.preset("paper", num_layers=30)
    assert cfg.schedule == ((9, 0.7), (18, 0.7), (27, 0.7))
    assert cfg.variant == "paper"
    assert stage_layer(0.9, 4) == 2  # never after the last layer
    assert LazyConfig.preset("default", num_layers=30).schedule == ((12, 0.4), (18, 0.4))
    assert LazyConfig.preset("default").variant == "paper", "default stays the paper's scoring"
    assert LazyConfig.preset("question").variant != "paper"


def test_parse_schedule():
    assert parse_schedule("9:0.7, 19:0.7,28:0.5") == ((9, 0.7), (19, 0.7), (28, 0.5))
    assert parse_schedule(" 6:.5 ,12:1") == ((6, 0.5), (12, 1.0))
    assert parse_schedule("  ") == ()


@pytest.mark.parametrize(
    "text",
    ["9-0.7", "a:b", "1_0:0.5", "+6:+.5", "６:0.5", "٦:0.5", "6:0.5;12:0.5", "6:1e-1", "6:0.5:1", "6:inf"],
)
def test_parse_schedule_accepts_only_the_documented_form(text):
    with pytest.raises(ValueError, match="layer:keep with ASCII digits") as e:
        parse_schedule(text)
    assert "refused" in str(e.value)


def test_schedule_errors_quote_at_most_100_characters():
    with pytest.raises(ValueError) as e:
        parse_schedule("x" * 5000)
    assert len(str(e.value)) < 250 and "5002 characters" in str(e.value)
    with pytest.raises(ValueError, match="too long"):
        parse_schedule("1:0.5," * 5000)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_from_user_with_the_presets_own_values_is_the_preset(name):
    preset = LazyConfig.preset(name, num_layers=30)
    same = LazyConfig.from_user(name, schedule=list(preset.schedule), strategy="lazy", num_layers=30)
    assert same == preset and same.name == name and same.label == name
    assert (same.window, same.pool, same.sinks) == (preset.window, preset.pool, preset.sinks)
    text = ", ".join(f"{layer}:{k}" for layer, k in preset.schedule)
    assert LazyConfig.from_user(name, schedule=text, num_layers=30) == preset


def test_from_user_question_keeps_its_window():
    assert LazyConfig.from_user("question").window == 16
    cfg = LazyConfig.from_user("question", schedule="6:0.5", num_layers=30)
    assert cfg.window == 16 and cfg.name == "custom"
    assert cfg.label == "custom (question with schedule 6:0.5)"
    assert LazyConfig.from_user("question", window=1).label == "custom (question with window 1)"


def test_from_user_labels_say_what_changed():
    cfg = LazyConfig.from_user("default", strategy="static", num_layers=30)
    assert (
        cfg.label == "custom (default with strategy static)"
        and cfg.schedule == LazyConfig.preset("default", num_layers=30).schedule
    )
    staged = LazyConfig.from_user(stages="0.4:0.3, 0.6:0.5", num_layers=30)
    assert staged.schedule == ((12, 0.3), (18, 0.5)) and "stages 0.4:0.3, 0.6:0.5" in staged.label
    assert LazyConfig.from_user(stages="0.4:0.4, 0.6:0.4").label == "default"  # the preset's own stages
    assert LazyConfig.from_user().name == "default"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(preset=["default"]), "preset must be one of"),
        (dict(preset="fastest"), "preset must be one of"),
        (dict(window=True), "window must be an integer"),
        (dict(window="16"), "window must be an integer"),
        (dict(schedule=5, num_layers=30), "list of \\(layer, keep fraction\\) pairs"),
        (dict(schedule="40:0.5", num_layers=30), "out of range"),
        (dict(schedule="6:0.5"), "num_layers: the model's depth is needed"),
        (dict(schedule="6:0.5", stages="0.2:0.5", num_layers=30), "not both"),
        (dict(strategy="greedy"), "strategy must be one of"),
    ],
)
def test_from_user_refuses_bad_input_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LazyConfig.from_user(**kwargs)
