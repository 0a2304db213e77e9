"""Shared fixtures: tiny random models of every supported family (offline, seeded), the embedded model."""

from __future__ import annotations

import functools
import os

import pytest

# family -> (config class, model class, extra config) in `transformers`, imported where a model is built:
# the xdist controller loads this file too, and never needs torch or transformers (seconds of CPU).
FAMILIES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 16}),
    # Gemma 3 (text): local and global layers alternating, a window shorter than most test prompts,
    # attention scaled by query_pre_attn_scalar (not head_dim), soft-capped logits, two RoPE bases.
    "gemma3": (
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        {
            "head_dim": 16,
            "sliding_window": 8,
            "layer_types": ["sliding_attention", "full_attention"] * 3,
            "query_pre_attn_scalar": 24,
            "final_logit_softcapping": 3.0,
            "eos_token_id": None,  # Gemma's default 1 is a likely greedy token of a random model: runs would stop early
            "rope_parameters": {
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                "full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
            },
        },
    ),
}


def tiny_hf_model(family: str = "llama", layers: int = 6, seed: int = 0, **overrides):
    """A tiny random decoder of a supported family, fp32, eval mode."""
    import torch
    import transformers

    config_name, model_name, extra = FAMILIES[family]
    config_cls, model_cls = getattr(transformers, config_name), getattr(transformers, model_name)
    params = dict(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False,
    )
    if "layer_types" in extra and "layer_types" not in overrides:  # the family's pattern, over `layers`
        pattern = extra["layer_types"]
        overrides["layer_types"] = [pattern[i % len(pattern)] for i in range(layers)]
    config = config_cls(**{**params, **extra, **overrides})
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    with torch.no_grad():  # larger weights than the default init: sharper, more varied attention
        for name, p in model.named_parameters():
            if name.endswith("proj.weight"):
                p.normal_(0.0, 0.08)
            elif name.endswith("norm.weight") and config.model_type == "gemma3_text":
                p.normal_(0.0, 0.2)  # Gemma's norms scale by (1 + w), w = 0 at init: make each one count
    return model


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


# LAZYLLM_TEST_DEVICE=cuda runs the tiny-model tests (e.g. tests/test_equivalence.py) on a GPU.
TEST_DEVICE = os.environ.get("LAZYLLM_TEST_DEVICE") or None


@functools.cache
def tiny_lm(family: str = "llama", layers: int = 6, seed: int = 0):
    from lazyllm import load_model

    return load_model(tiny_hf_model(family, layers, seed), tokenizer=None, device=TEST_DEVICE)


def on_global_layers(lm, schedule) -> tuple:
    """A table's schedule for this model: on a model with sliding-window layers (Gemma 3), each layer
    moves to the nearest global layer, the rule presets follow (lazyllm.config.nearest_scoring_layer);
    two entries on one layer multiply their keep fractions, as two stages on one layer do."""
    from lazyllm.config import nearest_scoring_layer

    if lm.layer_types is None:
        return tuple(schedule)
    merged: dict[int, float] = {}
    for layer, keep in schedule:
        target = nearest_scoring_layer(layer, lm.num_layers, lm.layer_types)
        merged[target] = merged.get(target, 1.0) * keep
    return tuple(sorted(merged.items()))


def random_prompt(n: int, seed: int = 0, vocab: int = 256) -> list[int]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (n,), generator=g).tolist()


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


# pytest-xdist (`make test` runs `-n 2`): the end-to-end files that share a launched server form one
# work unit, so each server starts once, on one worker; the units start longest first and every other
# test is its own unit, spread over both workers. (xdist's own `--dist loadgroup` cannot be used: it
# groups by a suffix it writes into `item._nodeid`, which pytest 9 no longer reads.)
E2E_GROUPS = {
    "test_robustness_app.py": "shared-server",
    "test_attacks_issue11.py": "shared-server",
    "test_load.py": "shared-server",
    "test_attacks_memory.py": "shared-server",
    "test_app_client.py": "launched-app",
    "test_browser.py": "launched-app",
    "test_soak.py": "launched-app",
}


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its e2e group, its e2e file, or the test alone."""
    path = nodeid.split("::")[0]
    if "/e2e/" not in f"/{path}":
        return nodeid
    name = path.rsplit("/", 1)[-1]
    return E2E_GROUPS.get(name, name)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None  # another mode asked for by name: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = True  # units with the most tests (the e2e groups) go out first
    return ByWorkUnit(config, log)
