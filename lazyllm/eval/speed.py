"""`python -m lazyllm bench-speed`: wall-clock ratios, measured interleaved in one process.

Rows (each a ratio of medians over --repeats rounds; inside a round the variants run back to back,
so machine noise hits them alike):
- our loop, pruning off, vs the transformers forward (prefill);  target: within 1.05
- `paper` preset TTFT vs our baseline TTFT
- a schedule computing ~40% of the prompt's token-layer work vs baseline TTFT;  target: >= 2.3x
- instrumented vs plain (`paper` preset, prefill + decode);  target: <= 1.15
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from lazyllm.config import LazyConfig
from lazyllm.generate import encode_prompt, generate

from .models import add_model_options, load_bench_model


def long_prompt(lm, target_tokens: int) -> list[int]:
    """A deterministic pass-key prompt of about `target_tokens` chat-templated tokens."""
    filler = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
    key = "The pass key is 71432. Remember it. 71432 is the pass key. "
    question = "\nWhat is the pass key? Answer with the number only."
    reps = max(target_tokens // 22, 1)
    for _ in range(8):  # adjust the filler count until the length is close
        text = filler * (reps // 2) + key + filler * (reps - reps // 2) + question
        ids = encode_prompt(lm, text)
        if abs(len(ids) - target_tokens) <= 24:
            break
        reps = max(int(reps * target_tokens / len(ids)), 1)
    return ids


def _hf_prefill(lm, ids):
    x = torch.tensor([ids], device=lm.device)
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = lm.model(input_ids=x, use_cache=True, logits_to_keep=1)
        int(out.logits[0, -1].argmax())  # as our loop does: waits for the device (GPU) too
        return time.perf_counter() - t0


def _ours(lm, ids, cfg, new_tokens=1, instrument=False, field="ttft"):
    res = generate(lm, ids, config=cfg, max_new_tokens=new_tokens, instrument=instrument)
    return (res.timings.ttft_s if field == "ttft" else res.timings.total_s), res


def measure(lm, prompt_tokens: int, repeats: int, new_tokens: int) -> dict:
    """Run every variant `repeats` times, interleaved; return {name: [seconds...]} and fractions."""
    ids = long_prompt(lm, prompt_tokens)
    base = LazyConfig.preset("baseline")
    paper = LazyConfig.preset("paper")
    forty = LazyConfig(stages=((0.2, 0.5), (0.4, 0.5), (0.6, 0.5)), name="~40% compute")
    variants = {
        "transformers prefill": lambda: (_hf_prefill(lm, ids), None),
        "ours, pruning off": lambda: _ours(lm, ids, base),
        "paper preset": lambda: _ours(lm, ids, paper),
        "~40% schedule": lambda: _ours(lm, ids, forty),
        "plain decode": lambda: _ours(lm, ids, paper, new_tokens, False, "total"),
        "instrumented decode": lambda: _ours(lm, ids, paper, new_tokens, True, "total"),
    }
    times = {name: [] for name in variants}
    fractions = {}
    variants["ours, pruning off"]()  # warm-up
    for r in range(repeats):
        for name, fn in variants.items():
            seconds, res = fn()
            times[name].append(seconds)
            if res is not None:
                fractions[name] = res.stats.prompt_compute_fraction
        print(f"round {r + 1}/{repeats} done", file=sys.stderr)
    return {"prompt_tokens": len(ids), "times": times, "fractions": fractions}


def describe_run(lm, threads: int) -> str:
    """E.g. SmolLM2-135M-Instruct (30 layers), fp32, 2 CPU threads; or ..., bfloat16, cuda (NVIDIA H200)."""
    dtype = str(lm.dtype).removeprefix("torch.")
    if lm.device.type == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(lm.device)})"
    else:
        where = f"{threads} CPU threads"
    return f"{lm.name} ({lm.num_layers} layers), {dtype}, {where}"


def table(m: dict, run: str, new_tokens: int) -> str:
    med = {k: statistics.median(v) for k, v in m["times"].items()}
    best = {k: min(v) for k, v in m["times"].items()}
    fr = m["fractions"]
    rows = [
        (
            "our loop, pruning off / transformers (prefill)",
            "ours, pruning off",
            "transformers prefill",
            "<= 1.05",
        ),
        ("TTFT speedup, `paper` preset", "ours, pruning off", "paper preset", ""),
        ("TTFT speedup, ~40% compute schedule", "ours, pruning off", "~40% schedule", ">= 2.3"),
        (
            f"instrumented / plain ({new_tokens} tokens, `paper`)",
            "instrumented decode",
            "plain decode",
            "<= 1.15",
        ),
    ]
    lines = [
        f"{run}, {m['prompt_tokens']}-token prompt, "
        f"{len(next(iter(m['times'].values())))} interleaved rounds.",
        "",
        "| measurement | ratio (medians) | ratio (best) | numerator s | denominator s | compute fraction | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, num, den, target in rows:
        frac = fr.get(den if "speedup" in label else num, 1.0)
        lines.append(
            f"| {label} | {med[num] / med[den]:.3f} | {best[num] / best[den]:.3f} | {med[num]:.3f} | {med[den]:.3f} "
            f"| {frac:.2f} | {target} |"
        )
    return "\n".join(lines)


def cmd_bench_speed(args) -> int:
    """`bench-speed`: measure, print the table (and write it to --out)."""
    lm = load_bench_model(args)
    m = measure(lm, args.prompt_tokens, args.repeats, args.new_tokens)
    text = table(m, describe_run(lm, args.threads), args.new_tokens)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


def add_subcommand(sub) -> None:
    """Register `bench-speed` on the CLI's subparsers."""
    p = sub.add_parser("bench-speed", help="speed ratios vs the baseline, measured interleaved")
    p.add_argument("--prompt-tokens", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--new-tokens", type=int, default=16)
    add_model_options(p, threads=2)
    p.add_argument("--out", help="also write the markdown table here")
    p.set_defaults(func=cmd_bench_speed)
