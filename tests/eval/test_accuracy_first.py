"""Issue 12, accuracy first, on the embedded model: `default` keeps the baseline's answers on prompts
with one fact hidden in notes and the question at the end, and the explorer's lesson example is one
where pruning too early (`paper`, after ~30% of the depth) loses the answer that `default` keeps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lazyllm import LazyConfig, generate
from lazyllm.eval.tasks import make_examples

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def answers(lm, prompt, preset: str, max_new_tokens: int) -> str:
    cfg = LazyConfig.preset(preset, num_layers=lm.num_layers)
    return generate(lm, [{"role": "user", "content": prompt}], cfg, max_new_tokens=max_new_tokens).text


@pytest.mark.parametrize("start", [20, 21, 22])
def test_default_keeps_the_baselines_answers_on_hidden_fact_notes(embedded_lm, start):
    """Unseen test-split prompts (~1k tokens), one test each (so test workers share them): the baseline
    answers each, and so does `default`."""
    (ex,) = make_examples("notes", 1024, 1, split="test", start=start)
    base = ex.score(answers(embedded_lm, ex.prompt, "baseline", ex.max_new_tokens))
    assert base == 1, f"seed {ex.seed}: the baseline should answer it (else the test shows nothing)"
    mine = ex.score(answers(embedded_lm, ex.prompt, "default", ex.max_new_tokens))
    assert mine == 1, f"seed {ex.seed}: the baseline answered right and `default` did not"


def test_the_lesson_example_is_lost_by_early_pruning_and_kept_by_default(embedded_lm):
    ex = json.loads((ROOT / "assets" / "examples" / "5_harbour_notes.json").read_text(encoding="utf-8"))
    assert ex["preset"] == "paper"
    out = {p: answers(embedded_lm, ex["prompt"], p, 16) for p in ("baseline", "paper", "default")}
    assert ex["answer"] in out["baseline"] and ex["answer"] in out["default"], out
    assert ex["answer"] not in out["paper"], out
