"""The bench harness: strategies, summaries, Pareto front, outputs, and a tiny end-to-end run."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from conftest import tiny_hf_model

from lazyllm import bench as B
from lazyllm import load_model
from lazyllm.config import LazyConfig


class ByteTokenizer:
    """One token per UTF-8 byte (vocab 256), no chat template: fast and offline."""

    chat_template = None
    eos_token_id = None

    def __len__(self):
        return 256

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": list(text.encode("utf-8"))}

    def decode(self, ids, skip_special_tokens=True):
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def byte_lm():
    return load_model(
        tiny_hf_model("llama", layers=6, max_position_embeddings=4096), tokenizer=ByteTokenizer()
    )


def _record(strategy, kind, uid, score, ttft, total, task="passkey", cf=1.0):
    return B.Record(strategy, kind, task, 1024, uid, score, ttft, total, 4, 1000, cf, cf, "x")


def test_build_strategies_baseline_first_and_same_budget():
    s = B.build_strategies("paper,aggressive", "9:0.7,19:0.5", "static,random")
    assert [x.kind for x in s] == ["baseline", "lazy", "lazy", "lazy", "static", "random"]
    assert s[0].config.is_baseline and s[1].label == "paper"
    assert s[3].config.schedule == ((9, 0.7), (19, 0.5))
    assert s[4].config.strategy == "static" and s[4].config.stages == s[1].config.stages  # the paper budget
    assert s[5].label == "random @ paper"
    with pytest.raises(ValueError, match="presets"):
        B.build_strategies("fastest")
    with pytest.raises(ValueError, match="strategies"):
        B.build_strategies("paper", "", "greedy")


def test_variant_labels_and_configs():
    s = B.build_strategies("paper", "", "", window=8, pool=3, sinks=4)
    assert s[1].label == "paper [w8,p3,s4]"
    assert (s[1].config.window, s[1].config.pool, s[1].config.sinks) == (8, 3, 4)
    assert B.lazy_from_stages(((0.3, 0.5),)).label == "lazy 0.3:0.5"


def test_summarize_ratios_over_the_same_examples():
    records = [
        _record("baseline", "baseline", "a", 1.0, 2.0, 4.0),
        _record("lazy", "lazy", "a", 0.0, 1.0, 2.0, cf=0.5),
        _record("baseline", "baseline", "b", 1.0, 4.0, 6.0),
        _record("lazy", "lazy", "b", 1.0, 1.0, 3.0, cf=0.3),
    ]
    rows = {(r.strategy, r.task): r for r in B.summarize(records)}
    lazy = rows[("lazy", "passkey")]
    assert lazy.ttft_speedup == pytest.approx(3.0 / 1.0)
    assert lazy.generation_speedup == pytest.approx(5.0 / 2.5)
    assert lazy.accuracy == 50.0 and lazy.accuracy_delta == -50.0
    assert lazy.compute_fraction == pytest.approx(0.4)
    assert rows[("baseline", "all")].ttft_speedup == 1.0 and rows[("lazy", "all")].n == 2


def test_pareto_front_and_choice():
    def row(name, acc, speed, cf):
        return B.Row(name, "lazy", "all", 0, 4, acc, 1, 1, speed, 1, cf, 1, 1, 1, acc - 90)

    rows = [row("a", 90, 1.5, 0.7), row("b", 85, 2.5, 0.4), row("c", 80, 2.0, 0.5), row("d", 70, 3.0, 0.3)]
    assert [r.strategy for r in B.pareto_front(rows)] == ["a", "b", "d"]
    assert [r.strategy for r in B.pareto_front(rows, "compute_fraction")] == ["a", "b", "d"]
    assert B.choose(rows, max_drop=5).strategy == "b"
    assert B.choose(rows, max_drop=1).strategy == "a"
    assert B.choose(rows, max_drop=1, min_speedup=2.0) is None
    rows.append(row("e [w16]", 90, 1.8, 0.6))
    assert B.choose(rows, max_drop=1).strategy == "e [w16]"
    assert B.choose(rows, max_drop=1, variants=False).strategy == "a"
    strategies = [B.lazy_from_stages(((0.5, 0.5),), label=x) for x in ("a", "e [w16]")]
    assert [s.label for s in B.picks(rows, strategies, 1)] == ["a", "e [w16]"]


def test_stage_compute_fraction_and_candidates():
    assert B.stage_compute_fraction(()) == 1.0
    assert B.stage_compute_fraction(((0.5, 0.5),)) == pytest.approx(0.75)
    assert B.stage_compute_fraction(((0.3, 0.7), (0.6, 0.7), (0.9, 0.7))) == pytest.approx(0.6913)
    cands = B.candidate_stages(quick=True)
    fractions = [B.stage_compute_fraction(c) for c in cands]
    assert fractions == sorted(fractions) and len(set(cands)) == len(cands) >= 8
    assert all(0.15 <= f <= 0.8 for f in fractions)
    for c in B.candidate_stages():
        LazyConfig(stages=c).resolved(30)  # every candidate is a valid config
    assert B.parse_stages("0.3:0.7, 0.6:0.5") == ((0.3, 0.7), (0.6, 0.5))
    with pytest.raises(ValueError, match="stages"):
        B.parse_stages("0.3")


def test_random_llama_sizes():
    cfg = B.random_llama_config("1b", 49152)
    h, n = cfg.hidden_size, cfg.num_hidden_layers
    kv = cfg.num_key_value_heads * h // cfg.num_attention_heads
    params = 2 * 49152 * h + n * (2 * h * h + 2 * h * kv + 3 * h * cfg.intermediate_size)
    assert 0.9e9 < params < 1.6e9
    with pytest.raises(ValueError, match="random-weights"):
        B.random_llama_config("2t", 100)


def test_run_bench_end_to_end_on_a_tiny_model(byte_lm, tmp_path):
    strategies = B.build_strategies("paper", "1:0.5,3:0.5", "static,random")
    records = B.run_bench(byte_lm, strategies, tasks=["passkey", "kv"], lengths=[128], n_examples=1,
                          max_new_tokens=3, progress=False)  # fmt: skip
    assert len(records) == 2 * len(strategies)
    by = {(r.strategy, r.uid): r for r in records}
    assert len(by) == len(records)  # every (strategy, example) ran once
    for r in records:
        assert r.new_tokens <= 3 and r.prompt_tokens > 250 and r.score in (0.0, 1.0)
        assert 0 < r.compute_fraction <= 1 and 0 < r.tokens_used <= 1
    base = [r for r in records if r.kind == "baseline"]
    assert all(r.compute_fraction == 1.0 for r in base)
    lazy = [r for r in records if r.strategy == "lazy 1:0.5,3:0.5"]
    assert all(r.compute_fraction < 0.8 for r in lazy)
    rows = B.summarize(records)
    overall = [r for r in rows if r.task == "all"]
    assert [r.strategy for r in overall] == [s.label for s in strategies]
    assert overall[0].ttft_speedup == 1.0 and overall[0].generation_speedup == 1.0
    fig = B.tradeoff_figure(rows, "tiny", front=["baseline", "paper"])
    assert {t.name for t in fig.data} >= {"baseline", "lazy", "static", "random", "Pareto front"}
    info = B.RunInfo("test", "tiny", 6, "cpu", "float32", 1, torch.__version__, "test", "now")
    md = B.write_outputs(tmp_path, "bench", info, rows, records, B.markdown_table(overall), fig, png=False)
    assert "| paper |" in md and (tmp_path / "bench.html").stat().st_size > 1000
    data = json.loads((tmp_path / "bench.json").read_text())
    assert len(data["records"]) == len(records) and data["rows"][0]["strategy"] == "baseline"
    header = (tmp_path / "bench.csv").read_text().splitlines()[0]
    assert "ttft_speedup" in header and "compute_fraction" in header


def test_run_bench_rejects_a_missing_baseline(byte_lm):
    strategies = B.build_strategies("paper", "", "")[1:]
    with pytest.raises(ValueError, match="baseline"):
        B.run_bench(byte_lm, strategies, tasks=["passkey"], lengths=[256], n_examples=1, progress=False)


def test_subcommands_register_bench_and_tune():
    parser = argparse.ArgumentParser()
    B.add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["bench", "--quick", "--schedules", "9:0.7,19:0.7", "--device", "cpu", "--n", "2"]
    )
    assert args.func is B.cmd_bench and args.quick and args.n == 2 and args.dtype == "float32"
    args = parser.parse_args(["tune", "--windows", "1,8", "--random-weights", "1b", "--threads", "2"])
    assert args.func is B.cmd_tune and args.random_weights == "1b" and args.threads == 2
    strategies = B.tune_strategies(
        parser.parse_args(["tune", "--stages", "0.3:0.5;0.5:0.3", "--windows", "1,8"])
    )
    assert [s.label for s in strategies] == ["baseline", "lazy 0.3:0.5", "lazy 0.5:0.3", "lazy 0.3:0.5 [w8]",
                                             "lazy 0.5:0.3 [w8]"]  # fmt: skip


def test_cli_bench_writes_results(tiny_model_folder, tmp_path, capsys):
    from lazyllm.cli import main

    code = main(["bench", "--model", str(tiny_model_folder), "--tasks", "passkey", "--lengths", "256", "--n", "1",
                 "--presets", "paper", "--max-new-tokens", "2", "--out", str(tmp_path), "--no-png"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in tmp_path.iterdir()} >= {"bench.md", "bench.csv", "bench.json", "bench.html"}
    assert "static @ paper" in (tmp_path / "bench.md").read_text()


def test_longbench_items_run_in_the_bench(byte_lm, tmp_path):
    row = {"input": "Where is the tower?", "context": "The tower is in Paris. " * 40, "answers": ["Paris"],
           "all_classes": None, "length": 200, "dataset": "hotpotqa"}  # fmt: skip
    (tmp_path / "hotpotqa.jsonl").write_text((json.dumps(row) + "\n") * 2)
    args = argparse.Namespace(longbench=str(tmp_path), tasks=B.DEFAULT_TASKS, max_prompt_tokens=300)
    items = B._items(args, byte_lm, "dev", 5)
    assert len(items) == 2 and all(len(it.prompt.encode()) <= 300 for it in items)  # middle-truncated
    assert items[0].prompt.endswith("Answer:") and items[0].score("Paris") == 1.0
    strategies = B.build_strategies("paper", "", "")
    records = B.run_bench(byte_lm, strategies, items, max_new_tokens=2, progress=False)
    assert {r.task for r in records} == {"hotpotqa"} and len(records) == 4
    assert "| baseline | multi-doc QA |" in B.longbench_table(records)


def test_presets_keep_their_own_scoring_variant():
    """`bench --presets question` runs the preset's window 16 unless --window overrides it."""
    from lazyllm.bench import build_strategies

    own = {s.label: s.config for s in build_strategies("default,question", "6:0.5", "", window=None)}
    assert own["question"].window == 16 and own["default"].window == 1 and own["lazy 6:0.5"].window == 1
    forced = {s.label: s.config for s in build_strategies("question", "", "static", window=4)}
    assert forced["question [w4]"].window == 4
    assert forced["static @ question [w4]"].window == 4
