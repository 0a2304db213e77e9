"""Reference computations with the transformers model itself, for the equivalence tests."""

from __future__ import annotations

import torch
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from lazyllm.eval.verify import hf_greedy  # noqa: F401  (the transformers forward with its own cache)

# Written out from transformers' Gemma 3 (modeling_gemma3.py), independently of lazyllm/families.py.


def gemma_kind(model, layer_idx: int) -> str | None:
    """Gemma 3's layer type ("sliding_attention" / "full_attention"), None for the other families."""
    return model.config.layer_types[layer_idx] if model.config.model_type == "gemma3_text" else None


def layer_window(model, layer_idx: int) -> int | None:
    """The layer's sliding window (a query at p sees keys k with p - k < window), or None."""
    kind, c = gemma_kind(model, layer_idx), model.config
    if kind == "sliding_attention" or c.model_type == "mistral":
        return c.sliding_window
    return None


def rope(model, x, pos, layer_idx):
    """(cos, sin) at positions pos (1, m): Gemma 3 has one rotary table per layer type."""
    kind = gemma_kind(model, layer_idx)
    return model.model.rotary_emb(x, pos) if kind is None else model.model.rotary_emb(x, pos, kind)


def after_attention(layer, x, o):
    """The layer's output from its input x and attention output o (Gemma 3: four norms per layer)."""
    if hasattr(layer, "pre_feedforward_layernorm"):
        h = x + layer.post_attention_layernorm(o)
        return h + layer.post_feedforward_layernorm(layer.mlp(layer.pre_feedforward_layernorm(h)))
    h = x + o
    return h + layer.mlp(layer.post_attention_layernorm(h))


def lm_logits(model, h):
    """Gemma3ForCausalLM.forward's head: the LM head, then the tanh soft cap when configured."""
    logits = model.lm_head(model.model.norm(h))
    cap = getattr(model.config, "final_logit_softcapping", None)
    return logits if cap is None else torch.tanh(logits / cap) * cap


@torch.inference_mode()
def hf_pruned_prefill_logits(model, prompt_ids: list[int], depth) -> torch.Tensor:
    """Last-token logits of a prefill that runs layer l only on the tokens with depth > l.

    Independent of our runtime: runs the transformers decoder layers on sub-sequences, with rotary
    position ids = the tokens' original positions and the layers' own causal attention (a sliding
    window, where the layer has one, over the original positions).
    """
    base, dev = model.model, model.device
    depth = torch.as_tensor(depth, device=dev)
    h = base.embed_tokens(torch.tensor([prompt_ids], device=dev))  # (1, n, D)
    pos = torch.arange(len(prompt_ids), device=dev)
    for layer_idx, layer in enumerate(base.layers):
        keep = depth[pos] > layer_idx
        pos, h = pos[keep], h[:, keep]
        window, mask = layer_window(model, layer_idx), None
        if window is not None:  # bool (1, 1, m, m): causal and inside the window, by original position
            mask = ((pos[None, :] <= pos[:, None]) & (pos[:, None] - pos[None, :] < window))[None, None]
        h = layer(
            h,
            attention_mask=mask,
            position_embeddings=rope(model, h, pos[None], layer_idx),
            position_ids=pos[None],
        )
    return lm_logits(model, h[:, -1])[0].float()


class NaiveLazyReplay:
    """A slow, independent replay of LazyLLM's semantics, one token and one layer at a time.

    Given the selections a generation made (the trace's `depth` per step), it recomputes every
    step the obvious way: at layer l a selected token reuses its K/V if layer l ever computed it,
    otherwise it is computed from its own last output of layer l-1 (whenever that was computed);
    each query attends to the selected tokens at or before its position. No flows, no Aux Cache
    class, no gathers: a reference for the runtime's fast path (logits and importance scores).
    """

    def __init__(self, model):
        self.model, self.base = model, model.model
        L = len(self.base.layers)
        self.k, self.v, self.out = ([{} for _ in range(L)] for _ in range(3))

    def _qkv(self, layer, x, p):
        attn = layer.self_attn
        hd = attn.head_dim
        h = layer.input_layernorm(x)[None, None]  # (1, 1, D)
        q = attn.q_proj(h).view(1, 1, -1, hd)
        k = attn.k_proj(h).view(1, 1, -1, hd)
        v = attn.v_proj(h).view(1, 1, -1, hd)[0, 0]  # (Hkv, hd)
        if hasattr(attn, "q_norm"):
            q, k = attn.q_norm(q), attn.k_norm(k)
        cos, sin = rope(self.model, h, torch.tensor([[p]], device=h.device), layer.self_attn.layer_idx)
        q, k = apply_rotary_pos_emb(q.transpose(1, 2), k.transpose(1, 2), cos, sin)
        return q[0, :, 0], k[0, :, 0], v  # (H, hd), (Hkv, hd), (Hkv, hd)

    def _attend(self, layer_idx, q, p, sel):
        attn = self.base.layers[layer_idx].self_attn
        window = layer_window(self.model, layer_idx)
        keys = [j for j in sel if j <= p and (window is None or p - j < window)]
        K = torch.stack([self.k[layer_idx][j] for j in keys], dim=1)  # (Hkv, s, hd)
        V = torch.stack([self.v[layer_idx][j] for j in keys], dim=1)
        groups = q.shape[0] // K.shape[0]
        K, V = K.repeat_interleave(groups, 0), V.repeat_interleave(groups, 0)  # (H, s, hd)
        probs = torch.softmax((q[:, None, :] @ K.transpose(1, 2))[:, 0] * attn.scaling, dim=-1)  # (H, s)
        out = (probs[:, None, :] @ V)[:, 0]  # (H, hd)
        return attn.o_proj(out.reshape(-1)), keys, probs.mean(0)

    @torch.inference_mode()
    def step(self, ids, depth):
        """ids: the whole context so far; depth: [n] selections. -> (logits [V], {layer: {pos: score}})."""
        n, base = len(ids), self.base
        scores = {}
        for layer_idx, layer in enumerate(base.layers):
            sel = [p for p in range(n) if depth[p] > layer_idx]
            new = [p for p in sel if p not in self.k[layer_idx]]
            xs = {}
            for p in new:
                x = (
                    base.embed_tokens(torch.tensor([ids[p]], device=self.model.device))[0]
                    if layer_idx == 0
                    else self.out[layer_idx - 1][p]
                )
                q, k, v = self._qkv(layer, x, p)
                self.k[layer_idx][p], self.v[layer_idx][p], xs[p] = k, v, (x, q)
            for p in new:
                x, q = xs[p]
                o, keys, probs = self._attend(layer_idx, q, p, sel)
                self.out[layer_idx][p] = after_attention(layer, x[None], o[None])[0]
                if p == n - 1:
                    scores[layer_idx] = dict(zip(keys, probs.tolist(), strict=True))
        logits = lm_logits(self.model, self.out[-1][n - 1][None])[0].float()
        return logits, scores
