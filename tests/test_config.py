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
    with pytest.raises(
        ValueError, match="preset must be one of baseline, paper, default, aggressive, question"
    ):
        LazyConfig.preset("fast")


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
    assert LazyConfig.preset("default", num_layers=30).schedule == ((6, 0.5), (12, 0.5), (18, 0.5))
    assert LazyConfig.preset("default").variant == "paper", "default stays the paper's scoring"
    assert LazyConfig.preset("question").variant != "paper"


def test_parse_schedule():
    assert parse_schedule("9:0.7, 19:0.7,28:0.5") == ((9, 0.7), (19, 0.7), (28, 0.5))
    assert parse_schedule("  ") == ()
    with pytest.raises(ValueError, match="layer:keep"):
        parse_schedule("9-0.7")
    with pytest.raises(ValueError, match="layer:keep"):
        parse_schedule("a:b")
