"""The two caches of LazyLLM (§3.3): a KV cache per layer, and the Aux Cache of pruned hidden states.

Layer l's KV cache holds exactly the tokens computed at layer l so far, so caches of different
layers have different lengths. Slots are filled in the order tokens are computed (a revived token
lands after newer ones); every lookup goes through original positions.
"""

from __future__ import annotations

import torch


class LayerKV:
    """KV cache of one layer, addressed by original token position."""

    def __init__(self, kv_heads: int, head_dim: int, capacity: int, dtype, device):
        self.k = torch.empty(1, kv_heads, capacity, head_dim, dtype=dtype, device=device)  # (1, Hkv, cap, hd)
        self.v = torch.empty_like(self.k)
        self.pos = torch.empty(capacity, dtype=torch.long, device=device)  # slot -> position
        self.slot = torch.full((capacity,), -1, dtype=torch.long, device=device)  # position -> slot
        self.len = 0

    def has(self, positions: torch.Tensor) -> torch.Tensor:
        """bool [m]: which positions have their KV here."""
        return self.slot[positions] >= 0

    def append(self, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store the KV of newly computed tokens. k, v: (1, Hkv, m, hd).

        A token is computed at most once per layer over a whole generation (§3.3): storing one
        twice is a bug in the caller, so it raises.
        """
        m = positions.shape[0]
        if bool(self.has(positions).any()):
            raise RuntimeError("LazyLLM invariant broken: a token was computed twice at one layer")
        end = self.len + m
        self.k[:, :, self.len : end] = k
        self.v[:, :, self.len : end] = v
        self.pos[self.len : end] = positions
        self.slot[positions] = torch.arange(self.len, end, device=positions.device)
        self.len = end

    def gather(self, positions: torch.Tensor):
        """KV of the selected positions -> (k, v, key_positions); k, v: (1, Hkv, s, hd)."""
        if positions.shape[0] == self.len:  # every cached token is selected: no copy
            return self.k[:, :, : self.len], self.v[:, :, : self.len], self.pos[: self.len]
        slots = self.slot[positions]  # (s,)
        # index_select: the same copy as k[:, :, slots], ~2x faster on CPU (advanced indexing on a
        # middle dimension takes the generic index kernel); tests/runtime/test_cache.py holds them equal
        return self.k.index_select(2, slots), self.v.index_select(2, slots), positions  # (1, Hkv, s, hd)

    def positions(self) -> torch.Tensor:
        return self.pos[: self.len]

    def truncate(self, length: int) -> None:
        """Forget the entries after the first `length` (LazyRunner.rewind): slots only ever fill up."""
        self.slot[self.pos[length : self.len]] = -1
        self.len = length


class AuxCache:
    """Hidden states of pruned tokens (§3.3), one store for all layers.

    Aux Cache of layer l: for a token pruned after layer l that is not in layer l+1's KV cache,
    its hidden state after layer l (the input of layer l+1). A token has at most one entry: the
    layer where its computation stopped. Revival takes the entry out (from then on the token's KV
    at layer l+1 exists, and the KV cache has priority), so the entry is never used twice.
    """

    def __init__(self, capacity: int, hidden_size: int, dtype, device):
        self.hidden = torch.empty(capacity, hidden_size, dtype=dtype, device=device)  # (cap, D)
        self.layer = torch.full((capacity,), -1, dtype=torch.long, device=device)  # position -> layer
        self.journal: list | None = None  # when kept: what each store and take overwrote, to undo it

    def store(self, layer: int, positions: torch.Tensor, hidden: torch.Tensor) -> None:
        """hidden: (m, D), the output of `layer` for `positions`."""
        if self.journal is not None:
            self.journal.append((positions, self.hidden[positions], self.layer[positions]))
        self.hidden[positions] = hidden
        self.layer[positions] = layer

    def take(self, layer: int, positions: torch.Tensor) -> torch.Tensor:
        """Revive: (m, D) hidden states stored after `layer`, removed from the cache."""
        if not bool((self.layer[positions] == layer).all()):
            raise RuntimeError(f"LazyLLM invariant broken: revived tokens missing from Aux Cache {layer}")
        if self.journal is not None:
            self.journal.append((positions, None, self.layer[positions]))
        self.layer[positions] = -1
        return self.hidden[positions]

    def undo(self, length: int) -> None:
        """Undo the stores and takes after the journal's first `length` entries, newest first."""
        while len(self.journal) > length:
            positions, hidden, layer = self.journal.pop()
            if hidden is not None:
                self.hidden[positions] = hidden
            self.layer[positions] = layer

    def lengths(self, num_layers: int) -> torch.Tensor:
        """int [L]: entries per layer."""
        held = self.layer[self.layer >= 0]
        return torch.bincount(held, minlength=num_layers)
