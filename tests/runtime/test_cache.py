"""Fast paths of the decode step against their slow reference paths (issue 19: decode near its ideal).

- LayerKV.gather copies with index_select; the reference is advanced indexing k[:, :, slots].
- Masked attention on CPU shares each KV head among its query heads (SDPA's enable_gqa) instead of
  copying the heads with repeat_kv; torch's CPU kernel must give the copying version's exact output
  (a library behaviour: this test notices when a torch upgrade breaks it).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lazyllm.cache import LayerKV
from lazyllm.layers import repeat_kv
from lazyllm.runtime import causal_attention


def filled_cache(seed: int = 0, kv_heads: int = 3, hd: int = 8, cap: int = 64) -> LayerKV:
    """A cache filled as a pruned run fills it: a prompt prefix, then new and revived tokens interleaved."""
    g = torch.Generator().manual_seed(seed)
    cache = LayerKV(kv_heads, hd, cap, torch.float32, torch.device("cpu"))
    order = torch.randperm(cap, generator=g)  # slots in an order unrelated to positions
    for chunk in order[:48].split(7):
        k, v = (torch.randn(1, kv_heads, chunk.shape[0], hd, generator=g) for _ in range(2))
        cache.append(chunk, k, v)
    return cache


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gather_equals_advanced_indexing(seed):
    cache = filled_cache(seed)
    held = cache.positions().sort().values
    g = torch.Generator().manual_seed(seed)
    sel = held[torch.rand(held.shape[0], generator=g) < 0.5]  # a selection, in position order
    keys, values, k_pos = cache.gather(sel)
    slots = cache.slot[sel]
    assert torch.equal(keys, cache.k[:, :, slots]) and torch.equal(values, cache.v[:, :, slots])
    assert torch.equal(k_pos, sel) and keys.shape == (1, 3, sel.shape[0], 8)


def test_gather_of_every_cached_token_is_a_view():
    cache = filled_cache()
    keys, values, k_pos = cache.gather(cache.positions().sort().values)
    assert keys.data_ptr() == cache.k.data_ptr() and values.data_ptr() == cache.v.data_ptr()
    assert torch.equal(k_pos, cache.positions())


def _copying_attention(q, k, v, mask, scale):
    """The slow reference: every KV head repeated for its query heads (repeat_kv), then SDPA."""
    groups = q.shape[1] // k.shape[1]
    return F.scaled_dot_product_attention(
        q, repeat_kv(k, groups), repeat_kv(v, groups), attn_mask=mask, scale=scale
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("m, s", [(1, 40), (5, 40), (37, 300), (130, 720)])
def test_cpu_sdpa_shares_kv_heads_exactly_under_a_mask(dtype, m, s):
    g = torch.Generator().manual_seed(m * 1000 + s)
    q = torch.randn(1, 9, m, 64, generator=g).to(dtype)
    k, v = (torch.randn(1, 3, s, 64, generator=g).to(dtype) for _ in range(2))
    k_pos = torch.randperm(2 * s, generator=g)[:s].sort().values
    q_pos = k_pos[torch.randperm(s, generator=g)[:m]].sort().values
    mask = (k_pos[None, :] <= q_pos[:, None])[None, None]  # (1, 1, m, s)
    shared = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.125, enable_gqa=True)
    assert torch.equal(shared, _copying_attention(q, k, v, mask, 0.125))


def test_causal_attention_mask_mode_equals_the_copying_reference():
    """The runtime's masked mode (revived queries at a decode step) on CPU, as the runtime calls it."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 4, 6, 16, generator=g)
    k, v = (torch.randn(1, 2, 20, 16, generator=g) for _ in range(2))
    k_pos = torch.arange(0, 40, 2)
    q_pos = k_pos[[3, 7, 8, 12, 15, 19]]
    out = causal_attention(q, k, v, q_pos, k_pos, 0.25, "mask", None)  # (1, m, H * hd)
    mask = (k_pos[None, :] <= q_pos[:, None])[None, None]
    ref = _copying_attention(q, k, v, mask, 0.25).transpose(1, 2).reshape(1, 6, -1)
    assert torch.equal(out, ref)
