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
    if "layer_types" in extra and "layer_types" not in overrides:  # the family's pattern, over `layers`
        pattern = extra["layer_types"]
        overrides["layer_types"] = [pattern[i % len(pattern)] for i in range(layers)]
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
            elif name.endswith("norm.weight") and config.model_type == "gemma3_text":
                p.normal_(0.0, 0.2)  # Gemma's norms scale by (1 + w), w = 0 at init: make each one count
    return model


# LAZYLLM_TEST_DEVICE=cuda runs the tiny-model tests (e.g. tests/runtime/test_equivalence.py) on a GPU.
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
