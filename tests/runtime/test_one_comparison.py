"""One comparison sequence (lazyllm.compare.compare_stream): the CLI, the bench and the app all run it,
and nothing else in the project forks a run or teacher-forces one by hand."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import lazyllm.compare
from lazyllm import LazyConfig
from tests.support.models import random_prompt, tiny_lm

ROOT = Path(__file__).resolve().parents[2]
FORKING = {"forkable", "fork_from", "forced_tokens"}  # what only lazyllm/compare.py may pass


@pytest.fixture
def calls(monkeypatch):
    """Every compare_stream call, by the config it compared."""
    seen, real = [], lazyllm.compare.compare_stream

    def counting(lm, prompt, config, **kw):
        seen.append(config)
        yield from real(lm, prompt, config, **kw)

    monkeypatch.setattr(lazyllm.compare, "compare_stream", counting)
    return seen


def test_the_cli_compares_through_compare_stream(calls, capsys, tiny_model_folder, tmp_path):
    from lazyllm.cli import main

    prompt = tmp_path / "p.txt"
    prompt.write_text("The secret word is banana. " * 10 + "What is the secret word?")
    argv = ["generate", "--model", str(tiny_model_folder), "--prompt-file", str(prompt), "--json"]
    assert main([*argv, "--schedule", "1:0.5", "--max-new-tokens", "3", "--compare"]) == 0
    assert [c.schedule for c in calls] == [((1, 0.5),)]
    assert "back to back" in json.loads(capsys.readouterr().out)["timing"]


def test_the_bench_compares_through_compare_stream(calls):
    from lazyllm.eval import plan as P
    from lazyllm.eval import run as U

    lm = tiny_lm("llama")
    prune = P.Candidate.of(LazyConfig(schedule=((1, 0.3), (3, 0.3)), name="p"))

    class Item:  # what run_bench needs of an item
        task, length, uid, chat, max_new_tokens = "t", 40, "t-0", False, 3
        prompt = random_prompt(40, seed=4)

        def score(self, text):
            return 1.0

    records = U.run_bench(lm, [P.baseline(), prune], items=[Item()], progress=False, warmup=False)
    assert [r.strategy for r in records] == ["baseline", prune.label]
    assert calls == [prune.config]  # the baseline is given to it, the candidate compared through it


def _calls_with(tree: ast.AST, names: set[str]) -> list[int]:
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and any(k.arg in names for k in n.keywords)
    ]


def test_no_other_module_forks_or_teacher_forces_a_run():
    """lazyllm/compare.py alone passes forkable / fork_from / forced_tokens (generate.py defines them)."""
    found = {}
    for folder in ("lazyllm", "app"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name in ("compare.py", "generate.py") and path.parent.name == "lazyllm":
                continue
            lines = _calls_with(ast.parse(path.read_text(encoding="utf-8")), FORKING)
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    assert not found, f"the comparison sequence written again (use lazyllm.compare.compare_stream): {found}"
