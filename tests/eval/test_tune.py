"""Accuracy-first tuning: examples lost / gained, the objective and its picks, the screened search, and
one end-to-end tune on a tiny model."""

from __future__ import annotations

import json

import pytest

from lazyllm.config import LazyConfig
from lazyllm.eval import plan as P
from lazyllm.eval import search as H
from lazyllm.eval import summary as S
from lazyllm.eval.commands import tune_markdown
from lazyllm.eval.run import Record


def _record(strategy, uid, score, ttft=1.0, kind="lazy", kl=0.0):
    return Record(
        strategy=strategy, kind=kind, variant="paper", task=uid.split("-")[0], length=2048, uid=uid,
        score=score, ttft_s=ttft, total_s=ttft + 1, new_tokens=4, prompt_tokens=2000, compute_fraction=1.0,
        tokens_used=1.0, token_agreement=1.0, first_divergence=None, mean_kl=kl, top1=1.0, prediction="x",
    )  # fmt: skip


def _row(name, speedup, lost=0, gained=0, kl=0.0, delta=0.0, kind="lazy", n=40):
    return S.Row(
        strategy=name, kind=kind, variant="paper", task="all", length=0, n=n, accuracy=80 + delta,
        accuracy_delta=delta, lost=lost, gained=gained, ttft_s=1, total_s=1, ttft_speedup=speedup,
        generation_speedup=1, compute_fraction=1 / speedup, tokens_used=1, top1_agreement=1, mean_kl=kl,
        prompt_tokens=2000, new_tokens=10,
    )  # fmt: skip


def test_lost_and_gained_are_counted_per_example():
    """Accuracy can stay equal while one example is lost and another gained: both are counted."""
    base = [1.0, 1.0, 1.0, 0.0]
    mine = [0.0, 1.0, 1.0, 1.0]
    records = [_record("baseline", f"kv-{i}", s, 2.0, "baseline") for i, s in enumerate(base)]
    records += [_record("lazy", f"kv-{i}", s, 1.0) for i, s in enumerate(mine)]
    rows = {r.strategy: r for r in S.summarize(records, by_length=False) if r.task == "all"}
    assert (rows["lazy"].lost, rows["lazy"].gained, rows["lazy"].accuracy_delta) == (1, 1, 0.0)
    assert (rows["baseline"].lost, rows["baseline"].gained) == (0, 0)


OBJECTIVE = S.Objective(max_lost=1, max_kl=0.3, max_drop=5.0)
ROWS = [
    _row("baseline", 1.0, kind="baseline"),
    _row("safe", 1.5, kl=0.05),
    _row("one lost", 1.8, lost=1, kl=0.2, delta=-2.5),  # the fastest feasible one
    _row("two lost", 2.2, lost=2, kl=0.1, delta=-2.5, gained=1),  # faster, loses 2: rejected
    _row("drifts", 2.4, kl=0.45),  # faster, no example lost, KL over the bound: rejected
    _row("far", 3.0, lost=6, kl=1.5, delta=-15.0),
    _row("static", 4.0, kind="static"),  # only lazy candidates are picked
]


def test_the_default_pick_is_the_fastest_feasible_candidate():
    picked = S.picks(ROWS, OBJECTIVE)
    assert picked["default"].strategy == "one lost"
    assert picked["fast"].strategy == "drifts"  # within 5 points, KL not bounded
    assert S.picks(ROWS, S.Objective(max_lost=2, max_kl=0.3))["default"].strategy == "two lost"
    assert S.picks(ROWS, S.Objective(max_lost=1, max_kl=0.5))["default"].strategy == "drifts"
    assert S.picks(ROWS[-2:], OBJECTIVE) == {}


def test_verdicts_say_which_constraint_failed():
    verdict = {r.strategy: OBJECTIVE.verdict(r) for r in ROWS}
    assert verdict["safe"] == "default, fast" and verdict["drifts"] == "fast"
    assert verdict["two lost"] == "fast"  # -2.5 points: within 5
    assert verdict["far"] == "lost 6, KL 1.50 > 0.3"


def test_net_loss_allowed_counts_examples():
    assert OBJECTIVE.net_loss_allowed(40) == 2  # 5 points of 40 examples
    assert OBJECTIVE.net_loss_allowed(36) == 1  # 1.8 examples: one
    assert S.Objective(max_lost=3).net_loss_allowed(10) == 3


def test_tune_markdown_marks_feasible_rows_and_screened_ones():
    rows = [*ROWS, _row("screened", 2.0, lost=4, n=4)]
    md, front, chosen = tune_markdown(rows, OBJECTIVE, n_dev=40)
    assert chosen["default"].strategy == "one lost" and "screened" not in {r.strategy for r in front}
    assert "| one lost | 40 |" in md and md.count("stopped after 4") == 1
    line = next(x for x in md.splitlines() if x.startswith("| two lost |"))
    assert line.endswith("| fast |") and "| 2 | 1 |" in line  # lost 2, gained 1
    assert "Pick `default`: `one lost`: lost 1" in md


def test_rungs():
    assert H.rungs(10, (1, 3)) == [(0, 1), (1, 3), (3, 10)]
    assert H.rungs(10, ()) == [(0, 10)]
    assert H.rungs(3, (2, 5)) == [(0, 2), (2, 3)]


def test_search_stops_the_candidates_that_lost_too_many(monkeypatch):
    """A candidate that loses every example stops after the first rung; the others run every example."""
    candidates = [P.baseline()] + [
        P.Candidate.of(LazyConfig.from_user(stages=s)) for s in ("0.5:0.5", "0.1:0.1", "0.3:0.3")
    ]
    score = {"baseline": 1.0, "lazy 0.5:0.5": 1.0, "lazy 0.1:0.1": 0.0}
    calls = []

    def fake_run_bench(lm, active, items, **options):
        calls.append(([c.label for c in active], [it.uid for it in items]))
        return [
            _record(c.label, it.uid, score.get(c.label, float(i != 0)), kind=c.kind)
            for i, it in enumerate(items)
            for c in active
        ]

    monkeypatch.setattr(H, "run_bench", fake_run_bench)
    records = H.search(None, candidates, ["passkey", "notes"], [2048], 6, (2,), OBJECTIVE, progress=False)
    (first, items1), (second, items2) = calls
    assert len(first) == 4 and len(items1) == 4  # every candidate on 2 examples per task
    assert second == ["baseline", "lazy 0.5:0.5", "lazy 0.3:0.3"] and len(items2) == 8
    assert not set(items1) & set(items2)  # no example runs twice
    seen = {label: {r.uid for r in records if r.strategy == label} for label in score}
    assert len(seen["baseline"]) == len(seen["lazy 0.5:0.5"]) == 12 and len(seen["lazy 0.1:0.1"]) == 4


def test_the_last_screen_keeps_the_fastest_and_spares_per_loss_level():
    """Faster candidates that lost no more examples beat slower ones; `spares` of them stop a candidate."""
    candidates = [P.baseline()] + [P.Candidate(x, LazyConfig(stages=((0.5, 0.5),)), "lazy") for x in "abcde"]
    ttft = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 0.5, "e": 0.8}  # d, e: faster, but each lost an example
    records = []
    for i in range(4):
        records.append(_record("baseline", f"kv-{i}", 1.0, 4.0, "baseline"))
        records += [_record(x, f"kv-{i}", float(not (x in "de" and i == 0)), t) for x, t in ttft.items()]

    def keep(spares):
        return [c.label for c in H.survivors(records, candidates, OBJECTIVE, 40, spares)]

    assert keep(None) == ["baseline", "a", "b", "c", "d", "e"]
    assert keep(2) == ["baseline", "a", "b", "d", "e"]  # c: a and b are faster and lost no more
    assert keep(1) == ["baseline", "a", "d"]  # e: d is faster and lost as many
    rows = {r.strategy: r for r in S.summarize(records) if r.task == "all"}
    assert H.beats(rows["a"], rows["b"], OBJECTIVE) and not H.beats(rows["b"], rows["a"], OBJECTIVE)
    assert not H.beats(rows["d"], rows["a"], OBJECTIVE)  # faster, but lost an example


def test_tune_end_to_end_on_a_tiny_model(tiny_model_folder, tmp_path, capsys):
    """Screen, verdicts, picks and files of a real tune (the tiny model answers nothing: nothing is lost)."""
    from lazyllm.cli import main

    code = main(["tune", "--model", str(tiny_model_folder), "--tasks", "passkey,notes", "--lengths", "200",
                 "--n", "2", "--screen", "1", "--spares", "1", "--stages", "0.3:0.5;0.5:0.5", "--max-new-tokens",
                 "2", "--max-kl", "100", "--out", str(tmp_path), "--no-png", "--threads", "1"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "tune.json").read_text())
    assert {r["strategy"] for r in data["records"]} == {"baseline", "lazy 0.3:0.5", "lazy 0.5:0.5"}
    assert len({r["uid"] for r in data["records"]}) == 4  # 2 tasks x 2 examples, over two rungs
    overall = [r for r in data["rows"] if r["task"] == "all" and r["kind"] == "lazy"]
    assert all(r["lost"] == 0 for r in overall)
    # --spares 1: after the screen the faster one (measured on the first 2 examples) beats the other
    assert sorted(r["n"] for r in overall) == [2, 4]
    finished = next(r for r in overall if r["n"] == 4)
    assert data["chosen"] == {"default": finished["strategy"], "fast": finished["strategy"]}
    md = (tmp_path / "tune.md").read_text()
    assert "| meets |" in md and "default, fast" in md and "Pareto front" in md
    assert "stopped after 2: beaten by faster ones" in md


@pytest.mark.parametrize("bad", ["1,x", "a"])
def test_tune_rejects_a_bad_screen(bad, capsys):
    from lazyllm.cli import main

    assert main(["tune", "--screen", bad, "--model", "/nonexistent"]) != 0
    assert "integers" in capsys.readouterr().err
