"""`python -m lazyllm verify`: equivalence first, on any model, device and dtype.

Runs our loop with pruning off and the model's own transformers forward (with its own cache) on the
same prompt, greedy, and compares the logits of every step and the greedy tokens. In fp32 they must
agree within 1e-4 with identical tokens; in bf16/fp16 the two differ by rounding (different but
equally valid orders of operations), so the numbers are reported and only --tol makes them a check.
"""

from __future__ import annotations

import sys

import torch

from lazyllm.config import LazyConfig
from lazyllm.generate import generate

from .models import add_model_options, load_bench_model
from .speed import long_prompt

FP32_TOL = 1e-4


@torch.inference_mode()
def hf_greedy(model, prompt_ids: list[int], steps: int):
    """Greedy decoding with the transformers forward and its own cache -> (logits [steps, V], tokens)."""
    from transformers import DynamicCache

    device = model.device
    cache = DynamicCache(config=model.config)
    out = model(input_ids=torch.tensor([prompt_ids], device=device), cache=cache, use_cache=True)
    logits, tokens = [], []
    for _ in range(steps):
        step_logits = out.logits[0, -1].float()
        logits.append(step_logits)
        tokens.append(int(step_logits.argmax()))
        if len(tokens) < steps:  # the last token's forward would go unused
            out = model(input_ids=torch.tensor([[tokens[-1]]], device=device), cache=cache, use_cache=True)
    return torch.stack(logits), tokens


def compare_with_transformers(lm, prompt_ids: list[int], steps: int) -> dict:
    """Our baseline loop vs the transformers forward on `prompt_ids` for `steps` greedy steps.

    Logits are compared up to and including the first step whose greedy tokens differ (after it the
    two runs continue different texts, so later logits are not comparable).
    """
    ref_logits, ref_tokens = hf_greedy(lm.model, prompt_ids, steps)
    res = generate(
        lm, prompt_ids, config=LazyConfig.preset("baseline"), max_new_tokens=steps, return_logits=True
    )
    ours = res.logits.float()  # (t, V); t < steps if our run met an end-of-sequence token
    n = min(len(ours), len(ref_logits))
    first_diff = next((i for i in range(n) if res.token_ids[i] != ref_tokens[i]), None)
    upto = n if first_diff is None else first_diff + 1
    diff = (ours[:upto] - ref_logits[:upto]).abs().max().item()
    scale = ref_logits[:upto].abs().max().item()
    return {
        "prompt_tokens": len(prompt_ids),
        "steps": n,
        "max_abs_diff": diff,
        "max_abs_logit": scale,
        "tokens_equal": first_diff is None,
        "first_token_diff": first_diff,
    }


def verdict(result: dict, tol: float | None) -> bool:
    """Pass when the greedy tokens are identical and (when a tolerance applies) the logits agree."""
    return result["tokens_equal"] and (tol is None or result["max_abs_diff"] <= tol)


def cmd_verify(args) -> int:
    """`verify`: one table row per prompt length; exit 1 when a row fails."""
    lm = load_bench_model(args)
    tol = args.tol if args.tol is not None else (FP32_TOL if lm.dtype == torch.float32 else None)
    lines = [
        f"model {lm.name}, {lm.num_layers} layers, {lm.device}, {str(lm.dtype).removeprefix('torch.')}",
        "| prompt tokens | steps | max abs logit diff | max abs logit | greedy tokens | result |",
        "|---|---|---|---|---|---|",
    ]
    ok = True
    for n in args.prompt_tokens:
        r = compare_with_transformers(lm, long_prompt(lm, n), args.steps)
        passed = verdict(r, tol)
        ok &= passed
        tokens = "identical" if r["tokens_equal"] else f"differ from step {r['first_token_diff']}"
        lines.append(
            f"| {r['prompt_tokens']} | {r['steps']} | {r['max_abs_diff']:.2e} | {r['max_abs_logit']:.1f} "
            f"| {tokens} | {'pass' if passed else 'FAIL'} |"
        )
    lines.append(
        f"tolerance: {tol:g}" if tol is not None else "tolerance: none (half precision; tokens only)"
    )
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if not ok:
        print("error: our loop does not match the transformers forward", file=sys.stderr)
    return 0 if ok else 1


def prompt_lengths(text: str) -> list[int]:
    """--prompt-tokens "256,2048" -> [256, 2048]; argparse turns the ValueError into a usage error."""
    values = [int(x) for x in text.split(",")]
    if not values or min(values) < 1:
        raise ValueError(text)
    return values


def add_subcommand(sub) -> None:
    """Register `verify` on the CLI's subparsers."""
    p = sub.add_parser("verify", help="pruning off vs the transformers forward: logits and greedy tokens")
    p.add_argument(
        "--prompt-tokens",
        type=prompt_lengths,
        default=[256, 2048],
        help="comma-separated prompt lengths, e.g. 256,2048",
    )
    p.add_argument("--steps", type=int, default=10, help="greedy steps compared")
    p.add_argument("--tol", type=float, default=None, help="max abs logit diff (default 1e-4 in fp32)")
    add_model_options(p)
    p.add_argument("--out", help="also write the markdown table here")
    p.set_defaults(func=cmd_verify)
