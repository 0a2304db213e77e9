"""Shared fixtures: the embedded model, and a tiny random Llama with its tokenizer (tests/support/models.py
builds the tiny models of every family); the embedded model's conversion started with the session."""

from __future__ import annotations

import os

import pytest

from tests.support.models import tiny_hf_model


def pytest_sessionstart(session):
    """With an empty model cache (a newcomer's first run, CI), the embedded model is de-quantised once
    (~17 s of CPU) while every process that needs it waits on its lock (lazyllm.model._converting): start
    that conversion here, in the background, while the test processes are still starting, so no core
    idles. Only where no converted model is cached yet (the folder of lazyllm.model.embedded_cache_dir),
    and never in an xdist worker (the controller or a single process starts it, once)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(os.environ.get("LAZYLLM_CACHE_DIR") or Path.home() / ".cache" / "lazyllm")
    if os.environ.get("PYTEST_XDIST_WORKER") or any(root.glob("smollm2-*/model.safetensors")):
        return
    code = (  # on terminate: exit through Python, so the half-written cache folder is removed
        "import signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(1)); "
        "import torch; torch.set_num_threads(1); from lazyllm import load_model; load_model()"
    )
    session.config._lazyllm_warm = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def pytest_sessionfinish(session):
    warm = getattr(session.config, "_lazyllm_warm", None)
    if warm is not None and warm.poll() is None:
        warm.terminate()  # the suite ended first (a short selection): the lock goes with the process
        warm.wait(10)


@pytest.fixture(scope="session")
def embedded_lm():
    from lazyllm import load_model

    return load_model()


@pytest.fixture(scope="session")
def embedded_tokenizer(embedded_lm):
    """The embedded model's tokenizer (read from the model cache once the GGUF was converted: parsing
    the GGUF again costs seconds per worker)."""
    return embedded_lm.tokenizer


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory, embedded_tokenizer):
    """A tiny random Llama saved as safetensors with the embedded model's tokenizer (for CLI/app tests)."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    model = tiny_hf_model("llama", layers=6, vocab_size=len(embedded_tokenizer))
    model.save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_app_lm(tiny_model_folder):
    """The tiny Llama with the embedded tokenizer, loaded once: the app's tests run the real runtime on it."""
    from lazyllm import load_model

    return load_model(str(tiny_model_folder))
