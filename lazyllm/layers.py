"""Two tensor helpers of the reference decoders (transformers' Llama; Mistral and Qwen2/3 use the same).

Written out here, the same operations in the same order, so that `import lazyllm` does not import
transformers' modeling code (seconds of start-up for the CLI and the app before a model loads); the
equivalence tests (tests/runtime/test_equivalence.py) hold the loop that uses them to the reference.
"""

from __future__ import annotations

import torch


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Grouped-query attention: (b, Hkv, s, hd) -> (b, Hkv * n_rep, s, hd), each KV head repeated."""
    b, kv_heads, s, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kv_heads, n_rep, s, hd).reshape(b, kv_heads * n_rep, s, hd)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary_pos_emb(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """Rotary position embeddings. q: (1, H, m, hd), k: (1, Hkv, m, hd); cos, sin: (1, m, hd)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
