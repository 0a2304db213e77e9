"""The layer scan (lazyllm/scan.py): scores checked against transformers' eager attention, ranks, spans."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lazyllm import LazyConfig, generate, load_model
from lazyllm.cli import main
from lazyllm.scan import copied_span, find_span, layer_scan, percentile_ranks
from tests.support.models import random_prompt, tiny_hf_model


@pytest.fixture(scope="module")
def eager():
    """A tiny Llama and the attention of its last token at every layer, from transformers' eager path."""
    model = tiny_hf_model("llama", layers=6, seed=2)
    prompt = random_prompt(48, seed=11)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        out = model(torch.tensor([prompt]), output_attentions=True)
    model.set_attn_implementation("sdpa")
    rows = np.stack([a[0, :, -1, :].mean(0).numpy() for a in out.attentions])  # (L, n): Eq. 1 per layer
    return load_model(model), prompt, rows


def test_scan_scores_are_the_last_tokens_attention(eager):
    lm, prompt, rows = eager
    res = generate(lm, prompt, max_new_tokens=2, scan=True)
    assert res.scan.shape == rows.shape
    np.testing.assert_allclose(res.scan, rows, atol=1e-5)  # our importance vs eager attention probabilities


def test_the_most_attended_span_ranks_first_where_it_is(eager):
    lm, prompt, rows = eager
    res = generate(lm, prompt, max_new_tokens=1, scan=True)
    for layer in range(rows.shape[0]):
        top = int(rows[layer].argmax())
        scan = layer_scan(res.scan, (top, top + 1), keep_fraction=0.5)
        assert scan.best[layer] == 0.0, f"layer {layer}: the most attended token must rank first"
        assert scan.mass[layer] == pytest.approx(rows[layer, top], rel=1e-4)
        others = [la for la in range(rows.shape[0]) if int(rows[la].argmax()) != top]
        assert all(scan.best[la] > 0 for la in others)


def test_safe_from_is_the_start_of_the_last_run_inside_the_keep_fraction():
    n = 10
    scores = np.tile(np.linspace(1.0, 0.1, n), (6, 1))  # position 0 best ... 9 worst, at every layer
    scores[0, [4, 5]] = [2.0, 1.5]  # layer 0: the span ranks first
    scores[1, 4] = 0.0  # layer 1: one span token ranks last
    scan = layer_scan(scores, (4, 6), keep_fraction=0.7)  # inside: percentile rank < 0.7
    assert scan.best[0] == 0.0 and scan.worst[1] == pytest.approx(0.9)
    assert scan.safe_from == 2  # layers 2..5 keep both span tokens (ranks 4 and 5 of 10)
    assert layer_scan(scores, (4, 6), keep_fraction=0.5).safe_from is None
    with pytest.raises(ValueError, match="outside the prompt"):
        layer_scan(scores, (8, 12))


def test_percentile_ranks_break_ties_by_position():
    ranks = percentile_ranks(np.array([[0.2, 0.5, 0.5, 0.1]]))
    assert ranks.tolist() == [[0.5, 0.0, 0.25, 0.75]]


def test_spans_found_and_copied():
    tokens = ["The", " pass", " key", " is", " 4", "8", "2", "1", "."]
    assert find_span(tokens, "key is 48") == (2, 6)
    assert find_span(tokens, "PASS KEY") == (1, 3)
    assert find_span(tokens, "absent") is None
    assert copied_span([5, 6, 7, 8, 9, 1, 2], [0, 7, 8, 9, 3]) == (2, 5)
    assert copied_span([5, 6, 7], [6, 7, 0]) is None  # fewer than 3 tokens in common


def test_the_scan_is_of_the_unpruned_model(eager):
    lm, prompt, _ = eager
    with pytest.raises(ValueError, match="scan: the layer scan scores every layer without pruning"):
        generate(lm, prompt, LazyConfig(schedule=((1, 0.5),)), max_new_tokens=1, scan=True)


def test_cli_scan(capsys, tiny_model_folder, tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("The code word is marmalade. " * 8 + "What is the code word?")
    code = main(["scan", "--model", str(tiny_model_folder), "--prompt-file", str(path), "--span", "marmalade",
                 "--keep", "0.4", "--json"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert len(data["layers"]) == 6 and data["keep"] == 0.4
    assert "marmalade" in data["span_text"].replace(" ", "") or "mar" in data["span_text"]
    assert data["scan_prefill_s"] > 0 and data["plain_prefill_s"] > 0
    code = main(["scan", "--model", str(tiny_model_folder), "--prompt-file", str(path), "--span", "zebra"])
    assert code == 2 and "span: 'zebra' is not in the prompt" in capsys.readouterr().err
