"""What differs between the supported families, in small helpers the runtime calls (runtime.py).

Llama is the reference layout; Mistral, Qwen2 and Qwen3 change attention only (a window, q/k/v biases,
q/k norms) and need nothing here. Gemma 3 (text, `Gemma3ForCausalLM`) differs in five places, each
stated where it is handled (`# main diff with Llama: ...`):

- layers of two kinds (`config.layer_types`): sliding-window layers attend to the last
  `config.sliding_window` positions only, global layers to the whole context (`layer_windows`);
- two RoPE tables, one per kind of layer (local base 10k, global base 1M; `rope_tables`);
- four norms per layer: after attention, and before and after the MLP (`residual_blocks`);
- a tanh soft cap on the final logits when `final_logit_softcapping` is set (`final_logits`);
- and, in its own modules (nothing to do here): embeddings multiplied by sqrt(hidden_size)
  (`Gemma3TextScaledWordEmbedding`), RMSNorm weights used as (1 + w), attention scaled by
  `query_pre_attn_scalar ** -0.5` (the layers' `self_attn.scaling`), q/k norms (`self_attn.q_norm`).

Only torch here: `import lazyllm` stays free of transformers' modeling code (layers.py).
"""

from __future__ import annotations

import torch

SLIDING, FULL = "sliding", "full"  # the two kinds of layer, as the trace names them (Trace.layer_types)
GEMMA3 = "gemma3_text"


def layer_windows(config) -> list[int | None]:
    """Per layer: the attention window in positions (a query at p sees keys at p - window < k <= p),
    or None for a global (full-attention) layer. transformers' mask convention
    (masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window)."""
    n, window = config.num_hidden_layers, getattr(config, "sliding_window", None)
    if config.model_type == "mistral":  # every layer shares one window (Mistral 7B v0.1), or none
        return [window] * n
    if config.model_type == GEMMA3:  # main diff with Llama: local and global layers, from layer_types
        return [window if t == "sliding_attention" else None for t in config.layer_types]
    return [None] * n


def layer_types(config) -> list[str] | None:
    """ "sliding" / "full" per layer, or None when every layer attends to the whole context."""
    kinds = [FULL if w is None else SLIDING for w in layer_windows(config)]
    return kinds if SLIDING in kinds else None


def rope_tables(
    base, config, positions: torch.Tensor, dtype, device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(cos, sin) of every position for each layer, each (1, cap, hd); layers of one kind share a table.

    positions: (1, cap). The model's own rotary module computes them (its RoPE type and scaling).
    """
    x = torch.empty(1, dtype=dtype, device=device)
    if config.model_type == GEMMA3:  # main diff with Llama: one table per kind of layer (two RoPE bases)
        tables = {kind: base.rotary_emb(x, positions, kind) for kind in set(config.layer_types)}
        return [tables[kind] for kind in config.layer_types]
    return [base.rotary_emb(x, positions)] * config.num_hidden_layers


def residual_blocks(layer, h: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
    """The layer's two residual additions around attention and MLP. h: (1, m, D) the layer's input,
    attn_out: (1, m, D) the attention output; returns the layer's output (1, m, D)."""
    if hasattr(layer, "pre_feedforward_layernorm"):  # main diff with Llama (Gemma 3): sandwich norms
        h = h + layer.post_attention_layernorm(attn_out)
        return h + layer.post_feedforward_layernorm(layer.mlp(layer.pre_feedforward_layernorm(h)))
    h = h + attn_out  # Llama: post_attention_layernorm is the norm before the MLP
    return h + layer.mlp(layer.post_attention_layernorm(h))


def final_logits(model, h: torch.Tensor) -> torch.Tensor:
    """LM head on the final-normed hidden state h (.., D) -> logits (.., V)."""
    logits = model.lm_head(h)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap is not None:  # main diff with Llama (Gemma 3): logits soft-capped to (-cap, cap) by tanh
        logits = torch.tanh(logits / cap) * cap
    return logits
