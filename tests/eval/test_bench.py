"""The bench harness: candidates, labels, fidelity records, summaries, Pareto front, outputs, and
tiny end-to-end runs."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from lazyllm import load_model
from lazyllm.config import LazyConfig
from lazyllm.eval import commands as C
from lazyllm.eval import models as M
from lazyllm.eval import plan as P
from lazyllm.eval import report as R
from lazyllm.eval import run as U
from lazyllm.eval import summary as S
from tests.support.models import tiny_hf_model


class ByteTokenizer:
    """One token per UTF-8 byte (vocab 256), no chat template: fast and offline."""

    chat_template = None
    eos_token_id = None

    def __len__(self):
        return 256

    def __call__(self, text, add_special_tokens=True, **options):  # split_special_tokens: bytes have none
        return {"input_ids": list(text.encode("utf-8"))}

    def decode(self, ids, skip_special_tokens=True):
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def byte_lm():
    return load_model(
        tiny_hf_model("llama", layers=6, max_position_embeddings=4096), tokenizer=ByteTokenizer()
    )


def _record(strategy, kind, uid, score, ttft, total, task="passkey", cf=1.0, kl=0.0, top1=1.0):
    return U.Record(
        strategy=strategy, kind=kind, variant="paper", task=task, length=1024, uid=uid, score=score,
        ttft_s=ttft, total_s=total, new_tokens=4, prompt_tokens=1000, compute_fraction=cf, tokens_used=cf,
        token_agreement=top1, first_divergence=None, mean_kl=kl, top1=top1, prediction="x",
    )  # fmt: skip


def _row(name, acc, speed, cf, variant="paper", lost=0, gained=0, kl=0.0, kind="lazy"):
    return S.Row(
        strategy=name, kind=kind, variant=variant, task="all", length=0, n=4, accuracy=acc,
        accuracy_delta=acc - 90, lost=lost, gained=gained, ttft_s=1, total_s=1, ttft_speedup=speed,
        generation_speedup=1, compute_fraction=cf, tokens_used=1, top1_agreement=1, mean_kl=kl, prompt_tokens=1,
        new_tokens=1,
    )  # fmt: skip


# ---- which configs run --------------------------------------------------------------------------


def test_build_candidates_takes_depth_fraction_schedules():
    s = P.build_candidates("", "", "static", stages="0.45:0.2;0.4:0.35,0.6:0.35")
    assert [c.label for c in s] == [
        "baseline",
        "lazy 0.45:0.2",
        "lazy 0.4:0.35,0.6:0.35",
        "static @ lazy 0.45:0.2",
    ]
    assert s[1].config == LazyConfig.from_user(stages="0.45:0.2") and s[3].config.stages == ((0.45, 0.2),)


def test_build_candidates_baseline_first_and_same_budget():
    s = P.build_candidates("paper,fast", "9:0.7,19:0.5", "static,random", num_layers=30)
    assert [x.kind for x in s] == ["baseline", "lazy", "lazy", "lazy", "static", "random"]
    assert s[0].config.is_baseline and s[1].label == "paper"
    assert s[3].config.schedule == ((9, 0.7), (19, 0.5)) and s[3].label == "lazy 9:0.7,19:0.5"
    assert s[4].config.strategy == "static" and s[4].config.stages == s[1].config.stages  # the paper budget
    assert s[4].label == "static @ paper" and s[5].label == "random @ paper"
    with pytest.raises(ValueError, match="presets"):
        P.build_candidates("fastest")
    with pytest.raises(ValueError, match="strategies"):
        P.build_candidates("paper", "", "greedy")
    with pytest.raises(ValueError, match="num_layers"):  # a layer schedule needs the model's depth
        P.build_candidates("paper", "9:0.7")


def test_every_config_comes_from_from_user_and_its_label_is_true():
    """Each candidate is what LazyConfig.from_user makes of the same input, and its label says so."""
    s = {c.label: c.config for c in P.build_candidates("paper", "9:0.7", "static", num_layers=30, window=8)}
    assert s["paper [w8]"] == LazyConfig.from_user(preset="paper", window=8)
    assert s["paper [w8]"].label == "custom (paper with window 8)"
    assert s["lazy 9:0.7 [w8]"] == LazyConfig.from_user(schedule="9:0.7", window=8, num_layers=30)
    assert s["static @ paper [w8]"] == LazyConfig.from_user(preset="paper", strategy="static", window=8)
    # a schedule equal to a preset's (on 30 layers) is that preset, run once
    text = ",".join(f"{layer}:{k:g}" for layer, k in LazyConfig.preset("default", num_layers=30).schedule)
    same = P.build_candidates("default", text, "", num_layers=30)
    assert [c.label for c in same] == ["baseline", "default"]


def test_variant_labels_and_configs():
    s = P.build_candidates("paper", "", "", window=8, pool=3, sinks=4)
    assert s[1].label == "paper [w8,p3,s4]"
    assert (s[1].config.window, s[1].config.pool, s[1].config.sinks) == (8, 3, 4)
    assert s[1].config.variant != "paper"
    assert [c.label for c in P.tune_candidates([((0.3, 0.5),)])] == ["baseline", "lazy 0.3:0.5"]


def test_presets_keep_their_own_scoring_variant():
    """`bench --presets question` runs the preset's window 16 unless --window overrides it."""
    own = {c.label: c.config for c in P.build_candidates("default,question", "6:0.5", "", 30, window=None)}
    assert own["question"].window == 16 and own["default"].window == 1 and own["lazy 6:0.5"].window == 1
    forced = {c.label: c.config for c in P.build_candidates("question", "", "static", window=4)}
    assert forced["question [w4]"].window == 4
    assert forced["static @ question [w4]"].window == 4
    # the preset's own window is no change; the paper's window on `question` is one, and says so
    assert [c.label for c in P.build_candidates("question", "", "", window=16)] == ["baseline", "question"]
    assert P.build_candidates("question", "", "", window=1)[1].label == "question [w1]"


def test_label_of_a_schedule_names_the_scoring_that_ran():
    """A schedule on the `question` preset keeps its window 16: the label shows it."""
    cfg = LazyConfig.from_user(preset="question", schedule="9:0.7", num_layers=30)
    assert cfg.window == 16 and P.label_of(cfg) == "lazy 9:0.7 [w16]"
    assert P.label_of(LazyConfig(stages=((0.3, 0.5),), strategy="random")) == "random @ lazy 0.3:0.5"


# ---- summaries ------------------------------------------------------------------------------------


def test_summarize_ratios_over_the_same_examples():
    records = [
        _record("baseline", "baseline", "a", 1.0, 2.0, 4.0),
        _record("lazy", "lazy", "a", 0.0, 1.0, 2.0, cf=0.5, kl=0.2, top1=0.5),
        _record("baseline", "baseline", "b", 1.0, 4.0, 6.0),
        _record("lazy", "lazy", "b", 1.0, 1.0, 3.0, cf=0.3, kl=0.4, top1=1.0),
        _record("baseline", "baseline", "c", 0.0, 100.0, 100.0),  # the lazy run lacks c: left out
    ]
    rows = {(r.strategy, r.task): r for r in S.summarize(records)}
    lazy = rows[("lazy", "passkey")]
    assert lazy.ttft_speedup == pytest.approx(3.0 / 1.0)
    assert lazy.generation_speedup == pytest.approx(5.0 / 2.5)
    assert lazy.accuracy == 50.0 and lazy.accuracy_delta == -50.0
    assert lazy.compute_fraction == pytest.approx(0.4)
    assert lazy.mean_kl == pytest.approx(0.3) and lazy.top1_agreement == pytest.approx(0.75)
    assert rows[("baseline", "all")].ttft_speedup == 1.0 and rows[("lazy", "all")].n == 2
    assert rows[("baseline", "all")].mean_kl == 0.0 and rows[("baseline", "all")].top1_agreement == 1.0


def test_pareto_front():
    rows = [
        _row("a", 90, 1.5, 0.7),
        _row("b", 85, 2.5, 0.4),
        _row("c", 80, 2.0, 0.5),
        _row("d", 70, 3.0, 0.3),
    ]
    assert [r.strategy for r in S.pareto_front(rows)] == ["a", "b", "d"]
    assert [r.strategy for r in S.pareto_front(rows, "compute_fraction")] == ["a", "b", "d"]


def test_stage_compute_fraction_and_candidates():
    assert P.stage_compute_fraction(()) == 1.0
    assert P.stage_compute_fraction(((0.5, 0.5),)) == pytest.approx(0.75)
    assert P.stage_compute_fraction(((0.3, 0.7), (0.6, 0.7), (0.9, 0.7))) == pytest.approx(0.6913)
    for quick in (True, False):
        cands = P.candidate_stages(quick)
        fractions = [P.stage_compute_fraction(c) for c in cands]
        assert fractions == sorted(fractions) and len(set(cands)) == len(cands) >= 6
        assert all(0.3 <= f <= 0.75 for f in fractions)
    cands = P.candidate_stages()
    assert {c[0][0] for c in cands} == {0.1, 0.2, 0.3, 0.4, 0.47, 0.55, 0.7}  # the first stage: 10-70% deep
    assert {len(c) for c in cands} == {1, 2, 3} and len(cands) <= 45
    for c in cands:
        LazyConfig(stages=c).resolved(30)  # every candidate is a valid config
    labels = [c.label for c in P.tune_candidates(["0.3:0.7, 0.6:0.5"])]
    assert labels == ["baseline", "lazy 0.3:0.7,0.6:0.5"]
    with pytest.raises(ValueError, match="stages"):
        P.tune_candidates(["0.3"])


def test_random_llama_sizes():
    cfg = M.random_llama_config("1b", 49152)
    h, n = cfg.hidden_size, cfg.num_hidden_layers
    kv = cfg.num_key_value_heads * h // cfg.num_attention_heads
    params = 2 * 49152 * h + n * (2 * h * h + 2 * h * kv + 3 * h * cfg.intermediate_size)
    assert 0.9e9 < params < 1.6e9
    with pytest.raises(ValueError, match="random-weights"):
        M.random_llama_config("2t", 100)


# ---- running ----------------------------------------------------------------------------------------


def test_run_bench_end_to_end_on_a_tiny_model(byte_lm, tmp_path):
    candidates = P.build_candidates("paper", "1:0.5,3:0.5", "static,random", num_layers=byte_lm.num_layers)
    records = U.run_bench(byte_lm, candidates, tasks=["passkey", "kv"], lengths=[128], n_examples=1,
                          max_new_tokens=3, progress=False)  # fmt: skip
    assert len(records) == 2 * len(candidates)
    by = {(r.strategy, r.uid): r for r in records}
    assert len(by) == len(records)  # every (candidate, example) ran once
    for r in records:
        assert r.new_tokens <= 3 and r.prompt_tokens > 250 and r.score in (0.0, 1.0)
        assert 0 < r.compute_fraction <= 1 and 0 < r.tokens_used <= 1
    base = [r for r in records if r.kind == "baseline"]
    assert all(r.compute_fraction == 1.0 for r in base)
    lazy = [r for r in records if r.strategy == "lazy 1:0.5,3:0.5"]
    assert all(r.compute_fraction < 0.8 for r in lazy)
    rows = S.summarize(records)
    overall = [r for r in rows if r.task == "all"]
    assert [r.strategy for r in overall] == [c.label for c in candidates]
    assert overall[0].ttft_speedup == 1.0 and overall[0].generation_speedup == 1.0
    fig = R.tradeoff_figure(rows, "tiny", front=["baseline", "paper"])
    assert {t.name for t in fig.data} >= {"baseline", "lazy", "static", "random", "Pareto front"}
    info = R.RunInfo("test", "tiny", 6, "cpu", "float32", 1, torch.__version__, "test", "now")
    md = R.write_outputs(tmp_path, "bench", info, rows, records, R.markdown_table(overall), fig, png=False)
    assert (
        "| paper |" in md and "top-1 agree (forced)" in md and (tmp_path / "bench.html").stat().st_size > 1000
    )
    data = json.loads((tmp_path / "bench.json").read_text())
    assert len(data["records"]) == len(records) and data["rows"][0]["strategy"] == "baseline"
    assert {"mean_kl", "top1", "token_agreement", "first_divergence"} <= set(data["records"][0])
    header = (tmp_path / "bench.csv").read_text().splitlines()[0].split(",")
    assert {"ttft_speedup", "compute_fraction", "mean_kl", "top1_agreement"} <= set(header)


def test_fidelity_fields_come_from_lazyllm_compare(byte_lm):
    """A baseline-config candidate has KL 0 and top-1 1; a pruning one has a finite KL >= 0, and its
    numbers are those of lazyllm.compare on the same runs."""
    from lazyllm.compare import compare_runs

    same = P.Candidate("pruning off", LazyConfig.from_user(schedule="1:1.0", num_layers=6), "lazy")
    prune = P.Candidate.of(LazyConfig.from_user(schedule="1:0.3,3:0.3", num_layers=6))
    records = U.run_bench(byte_lm, [P.baseline(), same, prune], tasks=["passkey"], lengths=[128], n_examples=2,
                          max_new_tokens=4, progress=False, warmup=False)  # fmt: skip
    for r in records:
        assert (
            math.isfinite(r.mean_kl) and r.mean_kl >= 0 and 0 <= r.top1 <= 1 and 0 <= r.token_agreement <= 1
        )
        if r.strategy in ("baseline", "pruning off"):
            assert r.mean_kl == pytest.approx(0.0, abs=1e-6) and r.top1 == 1.0
            assert r.first_divergence is None and r.token_agreement == 1.0
    item = U.items_for(["passkey"], [128], 1)[0]
    _, _, c = compare_runs(byte_lm, item.prompt, prune.config, max_new_tokens=4, chat=item.chat)
    mine = next(r for r in records if r.strategy == prune.label and r.uid == item.uid)
    assert mine.mean_kl == pytest.approx(c.mean_kl, rel=1e-4, abs=1e-7) and mine.top1 == c.top1_agreement
    assert mine.first_divergence == c.first_divergence and mine.token_agreement == c.token_agreement
    rows = {r.strategy: r for r in S.summarize(records) if r.task == "all"}
    assert (
        rows["pruning off"].mean_kl == pytest.approx(0.0, abs=1e-6)
        and rows["pruning off"].top1_agreement == 1
    )
    assert rows[prune.label].mean_kl > 0 and "mean KL (forced)" in R.markdown_table(list(rows.values()))


def test_run_bench_rejects_a_missing_baseline_or_a_repeated_label(byte_lm):
    candidates = P.build_candidates("paper", "", "")
    with pytest.raises(ValueError, match="baseline"):
        U.run_bench(byte_lm, candidates[1:], tasks=["passkey"], lengths=[256], n_examples=1, progress=False)
    with pytest.raises(ValueError, match="distinct"):
        U.run_bench(byte_lm, [*candidates, candidates[1]], tasks=["passkey"], lengths=[256], progress=False)


def test_longbench_items_run_in_the_bench(byte_lm, tmp_path):
    row = {"input": "Where is the tower?", "context": "The tower is in Paris. " * 40, "answers": ["Paris"],
           "all_classes": None, "length": 200, "dataset": "hotpotqa"}  # fmt: skip
    (tmp_path / "hotpotqa.jsonl").write_text((json.dumps(row) + "\n") * 2)
    args = argparse.Namespace(longbench=str(tmp_path), tasks=C.DEFAULT_TASKS, max_prompt_tokens=300)
    items = C.select_items(args, byte_lm, "dev", 5)
    assert len(items) == 2 and all(len(it.prompt.encode()) <= 300 for it in items)  # middle-truncated
    assert items[0].prompt.endswith("Answer:") and items[0].score("Paris") == 1.0
    candidates = P.build_candidates("paper", "", "")
    records = U.run_bench(byte_lm, candidates, items, max_new_tokens=2, progress=False)
    assert {r.task for r in records} == {"hotpotqa"} and len(records) == 4
    assert "| baseline | multi-doc QA |" in R.longbench_table(records)


# ---- the commands ---------------------------------------------------------------------------------


def test_subcommands_register_every_harness_command():
    parser = argparse.ArgumentParser()
    C.add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["bench", "--quick", "--schedules", "9:0.7,19:0.7", "--device", "cpu", "--n", "2"]
    )
    assert args.func is C.cmd_bench and args.quick and args.n == 2 and args.dtype == "float32"
    args = parser.parse_args(["tune", "--windows", "1,8", "--random-weights", "1b", "--threads", "2"])
    assert args.func is C.cmd_tune and args.random_weights == "1b" and args.threads == 2
    candidates = C.tune_plan(
        parser.parse_args(["tune", "--stages", "0.3:0.5;0.5:0.3", "--windows", "1,8"]), 30
    )
    assert [c.label for c in candidates] == ["baseline", "lazy 0.3:0.5", "lazy 0.5:0.3", "lazy 0.3:0.5 [w8]",
                                             "lazy 0.5:0.3 [w8]"]  # fmt: skip
    assert parser.parse_args(["verify"]).func.__name__ == "cmd_verify"
    assert parser.parse_args(["bench-speed"]).func.__name__ == "cmd_bench_speed"


def test_quick_and_bench_candidates_from_args():
    parser = argparse.ArgumentParser()
    C.add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--quick", "--schedules", "9:0.7", "--presets", "question"])
    C.apply_quick(args)
    assert args.n == 2 and args.presets == "question"  # --quick changes only options left at their default
    assert [c.label for c in C.bench_candidates(args)] == ["baseline", "question", "static @ question",
                                                           "random @ question"]  # fmt: skip
    labels = [c.label for c in C.bench_candidates(args, 30)]
    assert labels == ["baseline", "question", "lazy 9:0.7", "static @ question", "random @ question"]


def test_bench_quick_is_what_its_help_says():
    """--quick: 4 tasks x 2 examples at 1k, the baseline, paper, static and random (4 candidates x 8
    prompts: ~3 min on 2 idle cores); its --help says so."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    C.add_subcommands(sub)
    args = parser.parse_args(["bench", "--quick"])
    C.apply_quick(args)
    tasks, lengths = C.builtin_tasks(args)
    assert (len(tasks), lengths, args.n) == (4, [1024], 2)
    assert [c.label for c in C.bench_candidates(args)] == [
        "baseline",
        "paper",
        "static @ paper",
        "random @ paper",
    ]
    help_text = " ".join(sub.choices["bench"].format_help().split())
    assert C.BENCH_QUICK_HELP in help_text and "4 tasks x 2 dev examples at ~1k tokens" in help_text
    assert "min on 2 idle CPU cores" in help_text


def test_cli_bench_writes_results(tiny_model_folder, tmp_path, capsys):
    from lazyllm.cli import main

    code = main(["bench", "--model", str(tiny_model_folder), "--tasks", "passkey", "--lengths", "256", "--n", "1",
                 "--presets", "paper", "--max-new-tokens", "2", "--out", str(tmp_path), "--no-png"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in tmp_path.iterdir()} >= {"bench.md", "bench.csv", "bench.json", "bench.html"}
    md = (tmp_path / "bench.md").read_text()
    assert "static @ paper" in md and "mean KL (forced)" in md


def test_cli_tune_writes_results(tiny_model_folder, tmp_path, capsys):
    from lazyllm.cli import main

    code = main(["tune", "--model", str(tiny_model_folder), "--tasks", "passkey", "--lengths", "256", "--n", "1",
                 "--stages", "0.3:0.5", "--max-new-tokens", "2", "--n-test", "1", "--max-kl", "100",
                 "--out", str(tmp_path), "--no-png"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "tune.json").read_text())
    assert data["chosen"] == {"default": "lazy 0.3:0.5", "fast": "lazy 0.3:0.5"}
    assert data["chosen_configs"][0]["stages"] == [[0.3, 0.5]]
    assert {r["strategy"] for r in data["test"]} == {"baseline", "lazy 0.3:0.5", "static @ lazy 0.3:0.5",
                                                     "random @ lazy 0.3:0.5"}  # fmt: skip
