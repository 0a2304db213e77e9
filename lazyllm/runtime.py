"""The LazyLLM forward loop (arXiv 2407.14057, §3): score -> select -> prune -> Aux Cache -> revive.

One step (prefill = step 0, then one per generated token) runs every layer over a *flow*: the
tokens computed at that layer in this step. At a pruning layer l the step's last token scores the
tokens entering l (importance, §3.2); the top-k percentile is selected; pruned tokens that were
computed here go to the Aux Cache of layer l; selected tokens that layer l+1 has never computed
are revived from the Aux Cache (§3.3) and join the flow. Tokens whose KV a layer already holds are
reused, never recomputed: every token is computed at most once in every layer.

With an empty schedule this is an exact re-implementation of the reference model's forward.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from .cache import AuxCache, LayerKV
from .config import LazyConfig
from .families import final_logits, layer_windows, residual_blocks, rope_tables
from .layers import apply_rotary_pos_emb, repeat_kv
from .model import LoadedModel
from .pruning import Scorer, importance
from .strategies import make_strategy
from .trace import StepTrace, round_scores


@dataclass
class Flow:
    """The tokens moving through one layer in one step."""

    pos: torch.Tensor  # (m,) positions computed at this layer, sorted; the last is the step's last token
    h: torch.Tensor  # (1, m, D) their hidden states entering the layer
    sel: torch.Tensor  # (s,) positions selected at this layer (attended), sorted; pos ⊆ sel


@dataclass
class Checkpoint:
    """The runner's state after one step: what LazyRunner.rewind needs to undo the steps after it.

    Cheap: the KV caches only grow (lengths suffice), the Aux Cache journals its decode-step changes.
    """

    n: int  # context length after the step
    kv_lens: list[int]  # [L] entries in each layer's KV cache
    aux_journal: int  # entries in the Aux Cache's journal
    scorer: dict  # Scorer.state()
    strategy: object  # Strategy.state()


# Not cuDNN's attention: it builds a plan for every new shape, and pruned flows change shape at every
# step and layer. Measured on an H200 (8B, bf16, ~4k tokens): with cuDNN, a new prompt's prefill took
# 0.18-0.48 s instead of 0.08-0.14 s and pruned decode steps 230-250 ms instead of 40-70 ms.
SDPA_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def causal_attention(q, k, v, q_pos, k_pos, scaling, mode: str, window: int | None):
    """SDPA with a causal mask over original positions. q: (1, H, m, hd); k, v: (1, Hkv, s, hd).

    mode "causal": queries are the keys (prefill); "last": one query after every key; else a mask.
    returns (1, m, H * hd).
    """
    mask, is_causal = None, mode == "causal"
    if window is not None or mode == "mask":
        allowed = k_pos[None, :] <= q_pos[:, None]  # (m, s)
        if window is not None:
            allowed &= q_pos[:, None] - k_pos[None, :] < window
        mask, is_causal = allowed[None, None], False
    # SDPA can share each KV head among its query heads (no repeated copy) where a kernel that takes
    # enable_gqa runs: on CPU (flash, with or without a mask: the revived queries of a decode step),
    # on CUDA flash (fp16/bf16, no mask); else copy the heads. tests/runtime/test_cache.py checks that
    # the CPU kernel gives the copying version's exact output.
    cpu = q.device.type == "cpu"
    gqa = q.shape[1] != k.shape[1] and (cpu or (mask is None and q.dtype != torch.float32))
    if not gqa:
        groups = q.shape[1] // k.shape[1]
        k, v = repeat_kv(k, groups), repeat_kv(v, groups)  # (1, H, s, hd)
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=is_causal, scale=scaling, enable_gqa=gqa
    )
    return out.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)  # (1, m, H*hd)


class LazyRunner:
    """Runs the steps of one generation; owns its KV caches, Aux Cache and (optional) trace."""

    def __init__(
        self,
        lm: LoadedModel,
        config: LazyConfig,
        capacity: int,
        instrument: bool = False,
        seed=0,
        scan=False,
        forkable: bool = False,
        *,
        on_prefill_layer: Callable[[int, int], None] | None = None,
    ):
        """forkable: keep a Checkpoint after every step, so that `rewind` can go back to any of them.
        on_prefill_layer: called as on_prefill_layer(layers_done, L) after each layer of the prefill
        (step 0) only, for progress lines; its seconds are left out of the step's time (`aside_s`). On a
        GPU a layer's kernels may still be running when it is called (no synchronisation is added)."""
        self.lm, self.cfg, self.instrument = lm, config.resolved(lm.num_layers, lm.layer_types), instrument
        self.capacity = capacity
        base = lm.model.model
        self.embed, self.layers, self.norm = base.embed_tokens, base.layers, base.norm
        self.L = lm.num_layers
        self.schedule = dict(self.cfg.schedule)  # layer -> keep fraction
        self.prunes = not self.cfg.is_baseline
        c, dev, dt = lm.config, lm.device, lm.dtype
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.kv = [LayerKV(c.num_key_value_heads, head_dim, capacity, dt, dev) for _ in range(self.L)]
        self.aux = AuxCache(capacity, c.hidden_size, dt, dev)
        positions = torch.arange(capacity, device=dev)[None]
        self.rope = rope_tables(base, c, positions, dt, dev)  # [L] (cos, sin), each (1, cap, hd)
        self.windows = layer_windows(c)  # [L] sliding window in positions, None: global layer
        self.scorer = Scorer(self.cfg.window, self.cfg.pool, self.cfg.sinks)
        self.strategy = make_strategy(self.cfg.strategy, seed)
        if scan and self.prunes:
            raise ValueError(
                "scan: the layer scan scores every layer without pruning; use the baseline config"
            )
        self.scan = scan
        self.layer_scan: dict[int, torch.Tensor] = {}  # layer -> (prompt_len,) importance at prefill
        self.scan_steps = False  # score every layer at the steps that follow too (into step_scan)
        self.step_scan: dict[int, torch.Tensor] = {}  # layer -> (n,) importance at the latest such step
        self.n = 0  # context length after the current step
        self.step_index = -1
        self.prompt_len = 0
        self.checkpoints: list[Checkpoint] | None = [] if forkable else None
        self.aside_s = 0.0  # this step's seconds of work beyond the method (see `aside`)
        self.on_prefill_layer = on_prefill_layer

    @contextlib.contextmanager
    def aside(self):
        """Work beyond the method (the trace, the layer scan, checkpoints): its seconds go to `aside_s`,
        which generate leaves out of the step's time and reports apart (Timings.instrument_s). On a GPU
        the queue is drained first and last, so the method's kernels are not counted here."""
        cuda = self.lm.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if cuda:
                torch.cuda.synchronize()
            self.aside_s += time.perf_counter() - t0

    def report_layer(self, report: Callable[[int, int], None], done: int) -> None:
        """Tell the prefill's progress hook that `done` of L layers ran; its time is not the method's."""
        t0 = time.perf_counter()
        report(done, self.L)
        self.aside_s += time.perf_counter() - t0

    # --- one layer -----------------------------------------------------------------------------

    def attend(self, layer_idx: int, attn, x: torch.Tensor, flow: Flow):
        """Self-attention of the flow's tokens over the selected tokens. x: (1, m, D) normed."""
        m, hd = x.shape[1], attn.head_dim
        q = attn.q_proj(x).view(1, m, -1, hd)
        k = attn.k_proj(x).view(1, m, -1, hd)
        v = attn.v_proj(x).view(1, m, -1, hd).transpose(1, 2)  # (1, Hkv, m, hd)
        if hasattr(attn, "q_norm"):  # main diff in Qwen3 and Gemma 3: RMSNorm on each head's q and k
            q, k = attn.q_norm(q), attn.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)  # (1, H, m, hd), (1, Hkv, m, hd)
        cos, sin = self.rope[layer_idx]
        q, k = apply_rotary_pos_emb(q, k, cos[:, flow.pos], sin[:, flow.pos])
        cache = self.kv[layer_idx]
        cache.append(flow.pos, k, v)  # computed now: at most once per layer
        keys, values, k_pos = cache.gather(flow.sel)  # KV cache first; only selected tokens attended
        if self.step_index == 0:
            mode = "causal"
        else:
            mode = "last" if m == 1 else "mask"
        window = self.windows[layer_idx]  # in original positions, also for pruned and revived tokens
        window = window if window is not None and self.n > window else None
        # attn.scaling: head_dim ** -0.5, or Gemma 3's query_pre_attn_scalar ** -0.5
        out = causal_attention(q, keys, values, flow.pos, k_pos, attn.scaling, mode, window)
        return attn.o_proj(out), q, keys, k_pos

    def layer_forward(self, layer_idx: int, flow: Flow):
        """One decoder layer on the flow (the transformers layer's own norms and MLP)."""
        layer = self.layers[layer_idx]
        attn_out, q, keys, k_pos = self.attend(
            layer_idx, layer.self_attn, layer.input_layernorm(flow.h), flow
        )
        return residual_blocks(layer, flow.h, attn_out), q, keys, k_pos

    # --- score -> select -> prune -> Aux Cache -> revive -------------------------------------------

    def score(self, layer_idx: int, q, keys, k_pos, flow: Flow) -> torch.Tensor:
        """Importance of each selected token at this layer (§3.2, Eq. 1); float32 (s,) in sel order."""
        scaling = self.layers[layer_idx].self_attn.scaling
        return self.scorer.score(layer_idx, q, flow.pos, keys, k_pos, flow.sel, self.n, scaling)

    def select(self, layer_idx: int, scores: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
        """Positions kept after this layer, sorted: the strategy's choice (strategies.py)."""
        protect = self.scorer.protected(sel, self.n)
        prefill = self.step_index == 0
        return self.strategy.select(layer_idx, scores, sel, self.schedule[layer_idx], protect, prefill)

    def prune_and_revive(self, layer_idx: int, flow: Flow, keep: torch.Tensor) -> tuple[Flow, torch.Tensor]:
        """Prune the flow to `keep`; store pruned hidden states; revive what layer l+1 lacks.

        Pruned tokens computed at this layer are not in layer l+1's KV cache, so their hidden
        states go to the Aux Cache of this layer. Kept tokens that layer l+1 has never computed
        and that were not computed here come back from that Aux Cache.
        """
        stays = torch.isin(flow.pos, keep)
        gone = ~stays
        if bool(gone.any()):
            self.aux.store(layer_idx, flow.pos[gone], flow.h[0, gone])
        lacking = keep[~self.kv[layer_idx + 1].has(keep)]
        revive = lacking[~torch.isin(lacking, flow.pos)]
        pos, h = flow.pos[stays], flow.h[:, stays]
        if revive.shape[0]:
            h_rev = self.aux.take(layer_idx, revive)[None]  # (1, r, D)
            pos, h = torch.cat([pos, revive]), torch.cat([h, h_rev], dim=1)
            order = torch.argsort(pos)
            pos, h = pos[order], h[:, order]
        return Flow(pos=pos, h=h, sel=keep), revive

    # --- one step ------------------------------------------------------------------------------

    def step(self, ids: torch.Tensor) -> tuple[torch.Tensor, StepTrace | None]:
        """Feed new tokens (the prompt at step 0, then one token); return next-token logits (V,)."""
        self.aside_s = 0.0
        self.step_index += 1
        start, self.n = self.n, self.n + ids.shape[0]
        if self.step_index == 0:
            self.prompt_len = self.n
        dev = ids.device
        h = self.embed(ids[None])  # (1, m, D); Gemma 3's module multiplies by sqrt(D) itself
        flow = Flow(pos=torch.arange(start, self.n, device=dev), h=h, sel=None)
        flow.sel = torch.arange(self.n, device=dev)  # S_0: the whole context enters layer 0
        rec = _StepRecorder(self.n, self.L) if self.instrument else None
        report = self.on_prefill_layer if self.step_index == 0 else None
        with sdpa_kernel(SDPA_BACKENDS):  # once per step: entering it costs ~30 us
            for layer_idx in range(self.L):
                flow = self.layer_step(layer_idx, flow, rec)
                if report is not None:
                    self.report_layer(report, layer_idx + 1)
        logits = final_logits(self.lm.model, self.norm(flow.h[:, -1:]))[0, 0].float()  # (V,)
        trace = None
        if rec is not None:
            with self.aside():
                trace = rec.finish(self, int(logits.argmax()))
        if self.checkpoints is not None:
            with self.aside():
                self.checkpoints.append(self.checkpoint())
        return logits, trace

    # --- fork: back to an earlier step (teacher forcing from a divergence) --------------------------

    def checkpoint(self) -> Checkpoint:
        """The state after the current step. After prefill the Aux Cache starts its journal (prefill
        is never undone, so its stores are not journaled)."""
        if self.aux.journal is None:
            self.aux.journal = []
        kv_lens = [c.len for c in self.kv]
        return Checkpoint(self.n, kv_lens, len(self.aux.journal), self.scorer.state(), self.strategy.state())

    def rewind(self, step: int) -> None:
        """Undo the steps after `step`: the caches, the scorer and the strategy are as they were right
        after it, so the next `step()` may feed a different token. Needs forkable=True."""
        if self.checkpoints is None or not 0 <= step < len(self.checkpoints):
            raise ValueError(f"rewind: no checkpoint after step {step} (forkable runner, steps run)")
        c = self.checkpoints[step]
        for cache, length in zip(self.kv, c.kv_lens, strict=True):
            cache.truncate(length)
        self.aux.undo(c.aux_journal)
        self.scorer.restore(c.scorer)
        self.strategy.restore(c.strategy)
        self.n, self.step_index = c.n, step  # checkpoints[step] was taken after step `step`
        del self.checkpoints[step + 1 :]

    def layer_step(self, layer_idx: int, flow: Flow, rec: _StepRecorder | None) -> Flow:
        """Layer l on the flow; at a pruning layer: score, select, prune, Aux Cache, revive."""
        h, q, keys, k_pos = self.layer_forward(layer_idx, flow)
        flow = Flow(pos=flow.pos, h=h, sel=flow.sel)
        if rec is not None:
            rec.computed[layer_idx] = flow.pos
        if self.scan and self.step_index == 0:
            with self.aside():
                self.layer_scan[layer_idx] = self.score_last(layer_idx, q, flow.pos, keys, k_pos)
        elif self.scan_steps:
            with self.aside():
                scores = self.score_last(layer_idx, q, flow.pos, keys, k_pos)  # (s,) in key order
                self.step_scan[layer_idx] = torch.zeros(self.n, device=scores.device).index_copy_(
                    0, k_pos, scores
                )
        if self.prunes and layer_idx in self.schedule:
            scores = self.score(layer_idx, q, keys, k_pos, flow)
            keep = self.select(layer_idx, scores, flow.sel)
            if rec is not None:
                with self.aside():
                    rec.pruning_layer(layer_idx, flow.sel, scores, keep)
            flow, revived = self.prune_and_revive(layer_idx, flow, keep)
            if rec is not None and revived.shape[0]:
                rec.revived[layer_idx + 1] = revived
        return flow

    def score_last(self, layer_idx: int, q, pos, keys, k_pos) -> torch.Tensor:
        """The paper's importance at any layer (layer scan, no pruning): float32 (s,) in key order (by
        position at prefill; a decode step's keys come from the cache, see step_scan)."""
        scaling = self.layers[layer_idx].self_attn.scaling
        window = self.windows[layer_idx]  # a local layer's last token sees only its window
        return importance(q[:, :, -1:], pos[-1:], keys, k_pos, scaling, window)  # prefill: keys by position

    # --- counters ------------------------------------------------------------------------------

    def prompt_compute_fraction(self) -> float:
        """(prompt token, layer) computations so far / the baseline's L * prompt_len.

        Each computation adds one KV entry (at most once per layer), so KV contents count them.
        """
        done = sum(int((c.positions() < self.prompt_len).sum()) for c in self.kv)
        return done / (self.L * self.prompt_len)

    def prompt_tokens_used_fraction(self) -> float:
        """Prompt tokens that reached the last layer at least once."""
        return int((self.kv[-1].positions() < self.prompt_len).sum()) / self.prompt_len


class _StepRecorder:
    """Collects one StepTrace; exists only in instrumented mode."""

    def __init__(self, n: int, num_layers: int):
        self.depth = np.full(n, num_layers, dtype=np.int64)
        self.scores: dict[int, np.ndarray] = {}
        self.computed: dict[int, torch.Tensor] = {}
        self.revived: dict[int, torch.Tensor] = {}

    def pruning_layer(self, layer_idx, sel, scores, keep):
        sel_np = sel.cpu().numpy()
        row = np.full(self.depth.shape[0], np.nan)
        row[sel_np] = scores.detach().float().cpu().numpy()
        self.scores[layer_idx] = round_scores(row)
        pruned = np.setdiff1d(sel_np, keep.cpu().numpy(), assume_unique=True)
        self.depth[pruned] = layer_idx + 1

    def finish(self, runner: LazyRunner, token_id: int) -> StepTrace:
        """The step's trace; its `seconds` are set by generate (the step's time, this work left out)."""

        def arr(t):
            return t.cpu().numpy().astype(np.int64)

        return StepTrace(
            step=runner.step_index,
            token_id=token_id,
            depth=self.depth,
            scores=self.scores,
            computed={k: arr(v) for k, v in self.computed.items()},
            revived={k: arr(v) for k, v in self.revived.items()},
            kv_len=np.array([c.len for c in runner.kv], dtype=np.int64),
            aux_len=arr(runner.aux.lengths(runner.L)),
            seconds=0.0,
        )
