"""Reference computations with the transformers model itself, for the equivalence tests."""

from __future__ import annotations

import torch
from transformers import DynamicCache


@torch.inference_mode()
def hf_greedy(model, prompt_ids: list[int], steps: int):
    """Greedy decoding with the transformers forward and its own cache -> (logits [steps, V], tokens)."""
    cache = DynamicCache(config=model.config)
    out = model(input_ids=torch.tensor([prompt_ids]), cache=cache, use_cache=True)
    logits, tokens = [], []
    for _ in range(steps):
        step_logits = out.logits[0, -1].float()
        logits.append(step_logits)
        tokens.append(int(step_logits.argmax()))
        out = model(input_ids=torch.tensor([[tokens[-1]]]), cache=cache, use_cache=True)
    return torch.stack(logits), tokens


@torch.inference_mode()
def hf_pruned_prefill_logits(model, prompt_ids: list[int], depth) -> torch.Tensor:
    """Last-token logits of a prefill that runs layer l only on the tokens with depth > l.

    Independent of our runtime: runs the transformers decoder layers on sub-sequences, with rotary
    position ids = the tokens' original positions and the layers' own causal attention.
    """
    base = model.model
    depth = torch.as_tensor(depth)
    h = base.embed_tokens(torch.tensor([prompt_ids]))  # (1, n, D)
    pos = torch.arange(len(prompt_ids))
    for layer_idx, layer in enumerate(base.layers):
        keep = depth[pos] > layer_idx
        pos, h = pos[keep], h[:, keep]
        rope = base.rotary_emb(h, pos[None])
        h = layer(h, attention_mask=None, position_embeddings=rope, position_ids=pos[None])
    return model.lm_head(base.norm(h[:, -1]))[0].float()
