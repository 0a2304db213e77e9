"""Trace files for the refusal tests: a recorded example, and the issue's trace bomb (a valid trace that
declares a huge grid and holds almost nothing)."""

from __future__ import annotations

import json

from tests.support.app_server import ROOT


def good_trace() -> dict:
    """A recorded example trace (30 layers, 915 prompt tokens, 24 steps, with its explorer section)."""
    return json.loads(sorted((ROOT / "assets" / "traces").glob("*.json"))[0].read_text())


def bomb(layers: int, prompt_len: int, steps: int = 1) -> dict:
    """A valid trace of `layers` x `prompt_len` and `steps` steps, with no scores: every token at full
    depth, nothing computed, revived or in the Aux Cache."""
    return {
        "version": 1, "num_layers": layers, "prompt_len": prompt_len, "tokens": ["t"] * (prompt_len + steps - 1),
        "schedule": [], "steps": [
            {"step": t, "token_id": 0, "depth": [layers] * (prompt_len + t), "scores": {}, "computed": {},
             "revived": {}, "kv_len": [prompt_len + t] * layers, "aux_len": [0] * layers, "seconds": 0}
            for t in range(steps)
        ],
    }  # fmt: skip


def compact(d: dict) -> bytes:
    """The trace as the smallest JSON bytes."""
    return json.dumps(d, separators=(",", ":")).encode()
