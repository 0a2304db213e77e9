"""Tiny random models of every supported family (offline, seeded), and random prompts for them."""

from __future__ import annotations

import functools
import os

# family -> (config class, model class, extra config) in `transformers`, imported where a model is built:
# the xdist controller loads tests/conftest.py, which imports this module, and never needs torch or
# transformers (seconds of CPU).
FAMILIES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 16}),
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
    config = config_cls(**{**params, **extra, **overrides})
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    with torch.no_grad():  # larger weights than the default init: sharper, more varied attention
        for name, p in model.named_parameters():
            if name.endswith("proj.weight"):
                p.normal_(0.0, 0.08)
    return model


# LAZYLLM_TEST_DEVICE=cuda runs the tiny-model tests (e.g. tests/runtime/test_equivalence.py) on a GPU.
TEST_DEVICE = os.environ.get("LAZYLLM_TEST_DEVICE") or None


@functools.cache
def tiny_lm(family: str = "llama", layers: int = 6, seed: int = 0):
    from lazyllm import load_model

    return load_model(tiny_hf_model(family, layers, seed), tokenizer=None, device=TEST_DEVICE)


def random_prompt(n: int, seed: int = 0, vocab: int = 256) -> list[int]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (n,), generator=g).tolist()
