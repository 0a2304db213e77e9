"""Decode steps against their ideal, and whole generation at 16, 32 and 64 new tokens (issue 19).

A pruned decode step computes, at each layer, the step's new token and the tokens revived there: its
extra work is `extra` token-layers (sum over layers of len(step.computed[l]) minus L, counted from an
instrumented run of the same prompt, which makes the same decisions). Its ideal cost is

    ideal step = baseline step + extra * (baseline TTFT / (prompt_len * L))

the baseline's decode step plus the revived work at the prefill's cost per token-layer. Whole
generation at N new tokens (prefill + N - 1 decode steps) has the ideal speedup
baseline total / (pruned TTFT + sum of the ideal decode steps).

Timed runs are plain (no trace, no checkpoints, no scan), the baseline and the pruned run interleaved
in this process, `--repeats` rounds; each step's time is its median over the rounds. Both run greedy
for 64 steps past any end-of-text token, so they cover the same number of steps. `--clock cpu` (one
thread only) times each step by the thread's CPU time: on a machine shared with other jobs, wall time
also counts the time the thread waited for a core.

One thread by default: on a 2-core machine shared with other jobs, a 2-thread run stalls at every
OpenMP barrier whose other thread lost its core, and its step times stop meaning anything (measured:
baseline decode steps of 0.25-0.28 s at 2 threads against 0.10-0.12 s at one, pruned steps with a
median below the baseline's). Use --threads 2 on a quiet machine.

    python scripts/bench_decode.py [--threads 1] [--repeats 3] [--prompt-tokens 1800] [--preset default]
                                   [--clock wall|cpu]

(From a second checkout whose virtual environment has another one installed: PYTHONPATH=. first.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from lazyllm import LazyConfig, load_model
from lazyllm.eval.speed import describe_run, long_prompt
from lazyllm.runtime import LazyRunner

TOKENS = (16, 32, 64)


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
clock = time.perf_counter


def run(lm, cfg: LazyConfig, ids: list[int], steps: int, instrument: bool = False):
    """Greedy steps without stopping at end of text: (seconds per step, token ids, step traces)."""
    runner = LazyRunner(lm, cfg, len(ids) + steps, instrument=instrument)
    x = torch.tensor(ids, dtype=torch.long, device=lm.device)
    seconds, tokens, traces = [], [], []
    with torch.inference_mode():
        for _ in range(steps):
            t0 = clock()
            logits, trace = runner.step(x)
            token = int(logits.argmax())  # as generate does: waits for the device
            seconds.append(clock() - t0)
            tokens.append(token)
            traces.append(trace)
            x = torch.tensor([token], dtype=torch.long, device=lm.device)
    return seconds, tokens, traces


def extra_token_layers(traces, num_layers: int) -> list[int]:
    """Per decode step: token-layers computed beyond the new token's L (the revived work)."""
    return [sum(len(c) for c in t.computed.values()) - num_layers for t in traces[1:]]


def measure(lm, ids, cfg, repeats: int, steps: int) -> dict:
    base_cfg = LazyConfig.preset("baseline")
    _, tokens, traces = run(lm, cfg, ids, steps, instrument=True)  # also the warm-up
    extra = extra_token_layers(traces, lm.num_layers)
    base, pruned = [], []
    for r in range(repeats):
        order = [(base_cfg, base), (cfg, pruned)]
        for c, out in order if r % 2 == 0 else order[::-1]:  # alternate who goes first
            seconds, got, _ = run(lm, c, ids, steps)
            out.append(seconds)
            if c is cfg and got != tokens:
                sys.exit("the plain pruned run made other tokens than the instrumented one")
        print(f"round {r + 1}/{repeats} done", file=sys.stderr)
    return dict(extra=extra, base=base, pruned=pruned)


def per_step_median(rounds: list[list[float]]) -> list[float]:
    return [statistics.median(col) for col in zip(*rounds, strict=True)]


def report(m: dict, prompt_len: int, num_layers: int, describe: str, preset: str) -> str:
    base, pruned, extra = per_step_median(m["base"]), per_step_median(m["pruned"]), m["extra"]
    base_step = statistics.median(base[1:])
    per_tl = base[0] / (prompt_len * num_layers)  # the prefill's cost per token-layer
    ideal = [base_step + e * per_tl for e in extra]  # decode steps 1..
    ratios = [p / i for p, i in zip(pruned[1:], ideal, strict=True)]
    lines = [
        f"{describe}, {prompt_len}-token prompt, preset `{preset}`, plain runs interleaved, "
        f"median of {len(m['base'])} rounds per step; {len(extra)} decode steps.",
        f"Revived work per decode step: {min(extra)}-{max(extra)} token-layers "
        f"(median {statistics.median(extra):.0f}); prefill cost per token-layer {per_tl * 1e6:.1f} us.",
        "",
        "| decode step | median s |",
        "|---|---|",
        f"| baseline step | {base_step:.4f} |",
        f"| pruned step | {statistics.median(pruned[1:]):.4f} |",
        f"| ideal step (baseline step + revived token-layers x prefill cost) | {statistics.median(ideal):.4f} |",
        f"| ratio pruned / ideal, median over steps (target <= 1.15) | {statistics.median(ratios):.3f} |",
        f"| ratio pruned / ideal, all decode steps summed | {sum(pruned[1:]) / sum(ideal):.3f} |",
        "",
        "| new tokens | baseline s | pruned s | speedup | ideal speedup |",
        "|---|---|---|---|---|",
    ]
    for n in TOKENS:
        b, p = sum(base[:n]), sum(pruned[:n])
        best = pruned[0] + sum(ideal[: n - 1])
        lines.append(f"| {n} | {b:.2f} | {p:.2f} | {b / p:.2f}x | {b / best:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--prompt-tokens", type=int, default=1800)
    p.add_argument("--preset", default="default")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = p.parse_args()
    if args.clock == "cpu" and args.threads != 1:
        p.error("--clock cpu: the thread's CPU time is a step's time with one thread only")
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    lm = load_model()
    ids = long_prompt(lm, args.prompt_tokens)
    cfg = LazyConfig.preset(args.preset, num_layers=lm.num_layers)
    m = measure(lm, ids, cfg, args.repeats, max(TOKENS))
    describe = f"{describe_run(lm, args.threads)}, {args.clock} clock"
    print(report(m, len(ids), lm.num_layers, describe, args.preset))


if __name__ == "__main__":
    main()
