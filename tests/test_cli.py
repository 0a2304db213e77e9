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
    assert "baseline_text" in data and "schedule 1:0.5, 3:0.5" in data["config"]


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
        (b"hello", ["--preset", "paper", "--schedule", "1:0.5"], "not both"),
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


def test_verify_passes_on_a_supported_model(capsys, tiny_model_folder, tmp_path):
    out_file = tmp_path / "verify.md"
    code, out, err = run_cli(
        capsys, "verify", "--model", str(tiny_model_folder), "--prompt-tokens", "40,200", "--steps", "4",
        "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("| ") and line.endswith("| pass |")]
    assert len(rows) == 2, out
    assert "tolerance: 0.0001" in out and out_file.read_text().strip() == out.strip()


def test_verify_reports_a_mismatch(capsys, tiny_model_folder, monkeypatch):
    """A reference that disagrees by more than the tolerance must fail the check (exit 1)."""
    import lazyllm.verify as verify

    real = verify.hf_greedy

    def shifted(model, ids, steps):
        logits, tokens = real(model, ids, steps)
        return logits + 1e-3, tokens

    monkeypatch.setattr(verify, "hf_greedy", shifted)
    code, out, err = run_cli(capsys, "verify", "--model", str(tiny_model_folder), "--prompt-tokens", "40")
    assert code == 1
    assert "FAIL" in out and "1.00e-03" in out and "does not match" in err


def test_verify_rejects_bad_lengths(capsys):
    with pytest.raises(SystemExit) as e:
        main(["verify", "--prompt-tokens", "0"])
    assert e.value.code == 2
    assert "--prompt-tokens" in capsys.readouterr().err


def test_verify_random_weights(capsys, tiny_model_folder):
    """--random-weights builds a Llama of a named size (timing runs on a GPU); the tokenizer comes
    from --model."""
    code, out, err = run_cli(
        capsys, "verify", "--model", str(tiny_model_folder), "--random-weights", "135m",
        "--prompt-tokens", "40", "--steps", "2", "--threads", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "random-llama-135m, 30 layers" in out and "| pass |" in out


def test_bench_speed_table(capsys, tiny_model_folder, tmp_path):
    out_file = tmp_path / "speed.md"
    code, out, err = run_cli(
        capsys, "bench-speed", "--model", str(tiny_model_folder), "--prompt-tokens", "120",
        "--repeats", "2", "--new-tokens", "3", "--threads", "1", "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert "2 interleaved rounds" in out and "1 CPU threads" in out
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in out.splitlines()[4:]}
    assert len(rows) == 4, out
    fraction = float(rows["TTFT speedup, ~40% compute schedule"][5])
    assert 0.3 < fraction < 0.6  # the schedule computes ~40% of the prompt's token-layer work
    assert all(float(r[1]) > 0 for r in rows.values())
    assert out_file.read_text().strip() == out.strip()
