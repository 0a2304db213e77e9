"""The harness commands on the command line: verify, bench-speed, and the [eval] extra of bench/tune."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lazyllm.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


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
    import lazyllm.eval.verify as verify

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


# ---- optional dependencies: plotly is the [eval] extra, needed by bench and tune only ------------------


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_bench_without_plotly_names_the_extra_and_the_harness_imports_neither_plotly_nor_gradio():
    """In one fresh interpreter (its imports cost seconds): importing the runtime and the harness imports
    neither plotly nor gradio, nor transformers (it loads with the first model); then, with plotly
    missing, `bench --quick` prints one line naming the [eval] extra and exits 2, before any model loads."""
    code = (
        "import sys, lazyllm, lazyllm.eval.commands; "
        "print(sorted({'plotly', 'gradio', 'transformers'} & set(sys.modules))); "
        "sys.modules['plotly'] = None; from lazyllm.cli import main; sys.exit(main(['bench', '--quick']))"
    )
    done = _python(code)
    assert done.stdout == "[]\n", f"importing lazyllm imported {done.stdout.strip()}: {done.stderr[-2000:]}"
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "[eval]" in lines[0], done.stderr
    assert lines[0].endswith("pip install 'lazyllm-explorer[eval]'"), lines[0]  # our distribution's name


def test_tune_without_plotly_names_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly -> ImportError, find_spec -> None
    code, out, err = run_cli(capsys, "tune", "--quick", "--model", "/nonexistent")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "tune" in lines[0] and "[eval]" in lines[0]


def test_verify_and_bench_speed_run_without_plotly(capsys, monkeypatch, tiny_model_folder):
    monkeypatch.setitem(sys.modules, "plotly", None)
    code, out, err = run_cli(
        capsys, "verify", "--model", str(tiny_model_folder), "--prompt-tokens", "40", "--steps", "2"
    )
    assert code == 0 and "| pass |" in out, err
    code, out, err = run_cli(
        capsys, "bench-speed", "--model", str(tiny_model_folder), "--prompt-tokens", "60", "--repeats", "1",
        "--new-tokens", "2", "--threads", "1",
    )  # fmt: skip
    assert code == 0 and "1 interleaved rounds" in out, err
