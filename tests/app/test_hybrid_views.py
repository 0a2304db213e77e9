"""A hybrid model (Gemma 3: sliding-window and global layers) in the app: presets prune after its
global layers, the views shade its sliding-window layers, the walkthrough says why, and the optional
Gemma 3 270M is offered only where its packages are installed."""

from __future__ import annotations

import pytest

from app import figures as F
from app import walkthrough
from app.inputs import preset_rows
from app.serving import EMBEDDED, Limits
from app.state import RunView
from lazyllm import LazyConfig, generate
from lazyllm.model import GEMMA_NAME
from tests.support.models import random_prompt, tiny_lm

GEMMA_270M = ["sliding"] * 5 + ["full"] + ["sliding"] * 5 + ["full"] + ["sliding"] * 5 + ["full"]


@pytest.fixture(scope="module")
def hybrid_trace():
    lm = tiny_lm("gemma3")
    cfg = LazyConfig.preset("default", num_layers=lm.num_layers, layer_types=lm.layer_types)
    return generate(lm, random_prompt(40, seed=3), cfg, max_new_tokens=3, instrument=True).trace


def test_presets_prune_after_the_global_layers():
    assert preset_rows("default", 18, GEMMA_270M) == [[5, 0.4], [11, 0.4]]
    assert preset_rows("default", 30) == [[12, 0.4], [18, 0.4]]  # an all-global model: as before


def test_the_sliding_layers_are_shaded_with_a_legend_entry(hybrid_trace):
    t = hybrid_trace
    assert t.layer_types and "sliding" in t.layer_types and "full" in t.layer_types
    fig = F.survival_heatmap(t, 0)
    shaded = [s for s in fig.layout.shapes if s.fillcolor == "#888"]
    sliding = {i for i, kind in enumerate(t.layer_types) if kind == "sliding"}
    covered = {i for s in shaded for i in range(len(t.layer_types)) if s.y0 < i < s.y1}
    assert covered == sliding  # every sliding layer, no global one
    assert any("sliding-window layer" in (d.name or "") for d in fig.data)
    plain = tiny_lm("llama")
    trace = generate(
        plain, random_prompt(40, seed=3), LazyConfig.preset("default"), max_new_tokens=2, instrument=True
    ).trace
    assert not [s for s in F.survival_heatmap(trace, 0).layout.shapes if s.fillcolor == "#888"]


def test_the_walkthrough_says_why_only_global_layers_prune(hybrid_trace):
    note = walkthrough.hybrid_note(hybrid_trace)
    full = [i for i, k in enumerate(hybrid_trace.layer_types) if k == "full"]
    assert f"only the global layers ({', '.join(map(str, full))}) prune" in note
    assert f"last {hybrid_trace.sliding_window} positions" in note
    text, _ = walkthrough.page_pruning(RunView(hybrid_trace, "run"))
    assert note.strip() in text


def test_gemma_is_offered_only_where_its_packages_are_installed(monkeypatch):
    from app import serving

    monkeypatch.setattr(serving, "package_folder", lambda name: None)
    assert GEMMA_NAME not in Limits().model_choices()
    monkeypatch.setattr(serving, "package_folder", lambda name: "/somewhere")
    choices = Limits().model_choices()
    assert choices[:2] == [EMBEDDED, GEMMA_NAME] and len(choices) == len(set(choices))
