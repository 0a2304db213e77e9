"""The CLI prints text, TTFT, total time and compute fraction; bad input is one clear line, exit 2."""

from __future__ import annotations

import json

import pytest

from lazyllm.cli import main


@pytest.fixture()
def prompt_file(tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text("The secret word is banana. " * 20 + "What is the secret word?")
    return path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_json_compare(capsys, tiny_model_folder, prompt_file):
    code, out, err = run_cli(
        capsys, "generate", "--model", str(tiny_model_folder), "--prompt-file", str(prompt_file),
        "--schedule", "1:0.5,3:0.5", "--max-new-tokens", "4", "--json", "--compare",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["new_tokens"] == 4 and data["prompt_tokens"] > 100
    assert 0 < data["compute_fraction"] < 1
    assert data["ttft_speedup"] > 0 and 0 <= data["token_agreement"] <= 1
    assert "baseline_text" in data and data["config"]["schedule"] == [[1, 0.5], [3, 0.5]]
    assert data["config"]["label"] == "custom (default with schedule 1:0.5, 3:0.5)"
    assert len(data["kl_per_step"]) == len(data["top1_per_step"]) == 4  # teacher-forced, every step
    assert data["verdict"].startswith(("Same text as the baseline", "Diverged at step"))


def test_preset_and_schedule_together_keep_the_presets_scoring(capsys, tiny_model_folder, prompt_file):
    code, out, err = run_cli(
        capsys, "generate", "--model", str(tiny_model_folder), "--prompt-file", str(prompt_file),
        "--preset", "question", "--schedule", "1:0.5", "--max-new-tokens", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    config = json.loads(out)["config"]
    assert config["window"] == 16 and config["label"] == "custom (question with schedule 1:0.5)"
    code, out, err = run_cli(
        capsys, "generate", "--model", str(tiny_model_folder), "--prompt-file", str(prompt_file),
        "--preset", "question", "--max-new-tokens", "2", "--json",
    )  # fmt: skip
    assert json.loads(out)["config"]["label"] == "question" and json.loads(out)["config"]["window"] == 16


def test_generate_text_output_and_trace(capsys, tiny_model_folder, prompt_file, tmp_path):
    trace_path = tmp_path / "t.json"
    code, out, err = run_cli(
        capsys, "generate", "--model", str(tiny_model_folder), "--prompt-file", str(prompt_file),
        "--preset", "paper", "--max-new-tokens", "3", "--trace-out", str(trace_path),
    )  # fmt: skip
    assert code == 0, err
    assert "TTFT" in out and "compute fraction" in out
    assert "prefill:" in err  # progress on stderr
    from lazyllm import Trace

    assert Trace.from_json(trace_path.read_text()).num_layers == 6


@pytest.mark.parametrize(
    "setup, extra, message",
    [
        (None, ["--prompt-file", "/nonexistent/prompt.txt"], "cannot read prompt file"),
        (b"\xff\xfe bad", [], "not valid UTF-8"),
        (b"   \n", [], "prompt is empty"),
        (b"hello", ["--schedule", "9-0.7"], "layer:keep"),
        (b"hello", ["--schedule", "4:0.5,2:0.5"], "strictly increasing"),
        (b"hello", ["--schedule", "2:1.5"], r"keep fraction must be in \(0, 1\]"),
        (b"hello", ["--schedule", "40:0.5"], "out of range"),
        (b"hello", ["--max-new-tokens", "0"], "max_new_tokens must be in"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, tiny_model_folder, tmp_path, setup, extra, message):
    path = tmp_path / "p.txt"
    if setup is not None:
        path.write_bytes(setup)
    argv = ["generate", "--model", str(tiny_model_folder), "--prompt-file", str(path), *extra]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in err
    import re

    assert re.search(message, err), err


def test_unknown_strategy_is_rejected_by_argparse(capsys, prompt_file):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--prompt-file", str(prompt_file), "--strategy", "greedy"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
