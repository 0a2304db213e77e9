"""Command line: `python -m lazyllm generate|bench-speed|verify|bench|tune ...`.

Errors in the input print one line naming the problem and exit with status 2; no stack trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import PRESETS, STRATEGIES, LazyConfig, parse_schedule

MAX_PROMPT_FILE_BYTES = 5 * 1024 * 1024


class CliError(Exception):
    """A problem with the command line's input; printed without a traceback."""


def read_prompt(args) -> str:
    if args.prompt is not None:
        return args.prompt
    if args.prompt_file is None:
        raise CliError("give --prompt-file FILE or --prompt TEXT")
    path = Path(args.prompt_file)
    try:
        data = path.read_bytes() if str(path) != "-" else sys.stdin.buffer.read()
    except OSError as e:
        raise CliError(f"cannot read prompt file {str(path)!r}: {e.strerror or e}") from None
    if len(data) > MAX_PROMPT_FILE_BYTES:
        raise CliError(
            f"prompt file {str(path)!r} is too large ({len(data)} bytes; limit {MAX_PROMPT_FILE_BYTES})"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(f"prompt file {str(path)!r} is not valid UTF-8 text: {e}") from None


def config_from_args(args) -> LazyConfig:
    """--preset or --schedule, plus --strategy and the scoring variant options."""
    variant = dict(window=args.window, pool=args.pool, sinks=args.sinks)
    if args.schedule is not None:
        if args.preset is not None:
            raise CliError("give --preset or --schedule, not both")
        return LazyConfig(schedule=parse_schedule(args.schedule), strategy=args.strategy, **variant)
    return LazyConfig.preset(args.preset or "default", strategy=args.strategy, **variant)


def add_generate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt-file", help="file with the prompt text (UTF-8); - reads standard input")
    p.add_argument("--prompt", help="the prompt text itself (instead of --prompt-file)")
    p.add_argument("--preset", choices=list(PRESETS), help="a named schedule (default: default)")
    p.add_argument("--schedule", help='pruning layers and keep fractions, e.g. "9:0.7,19:0.7,28:0.7"')
    p.add_argument("--strategy", default="lazy", choices=STRATEGIES)
    p.add_argument("--window", type=int, default=1, help="score with the last W queries (beyond the paper)")
    p.add_argument("--pool", type=int, default=1, help="max-pool scores over P neighbours (beyond the paper)")
    p.add_argument("--sinks", type=int, default=0, help="always keep the first S tokens (beyond the paper)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--model", default=None, help="hub id or local folder (default: the embedded SmolLM2)")
    p.add_argument("--no-chat", action="store_true", help="feed the text as is, without the chat template")
    p.add_argument("--compare", action="store_true", help="also run the baseline and print the speedups")
    p.add_argument("--trace-out", help="write the instrumented trace JSON here")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _progress(update, prompt_len: int, max_new: int) -> None:
    if update.step == 0:
        print(f"prefill: {prompt_len} prompt tokens in {update.seconds:.2f} s", file=sys.stderr)
    elif update.step % 8 == 0 or update.done:
        print(f"\rdecode: {update.step + 1}/{max_new} tokens", end="", file=sys.stderr, flush=True)
    if update.done and update.step > 0:
        print(file=sys.stderr)


def _generate(lm, prompt, cfg, args, instrument: bool, show_progress: bool):
    from .generate import encode_prompt, generate_stream

    prompt_len = len(encode_prompt(lm, prompt, chat=not args.no_chat))
    if show_progress:
        print(f"running {cfg.describe()} ...", file=sys.stderr)
    for update in generate_stream(
        lm,
        prompt,
        config=cfg,
        max_new_tokens=args.max_new_tokens,
        instrument=instrument,
        chat=not args.no_chat,
    ):
        if show_progress:
            _progress(update, prompt_len, args.max_new_tokens)
        if update.done:
            return update.result
    raise RuntimeError("generation ended without a result")


def summary(res, base=None) -> dict:
    out = {
        "text": res.text,
        "config": res.config.describe(),
        "prompt_tokens": res.stats.prompt_len,
        "new_tokens": len(res.token_ids),
        "ttft_s": round(res.timings.ttft_s, 4),
        "total_s": round(res.timings.total_s, 4),
        "compute_fraction": round(res.stats.prompt_compute_fraction, 4),
        "prompt_tokens_used": round(res.stats.prompt_tokens_used_fraction, 4),
    }
    if base is not None:
        same = sum(a == b for a, b in zip(base.token_ids, res.token_ids, strict=False))
        out.update(
            baseline_text=base.text,
            baseline_ttft_s=round(base.timings.ttft_s, 4),
            baseline_total_s=round(base.timings.total_s, 4),
            ttft_speedup=round(base.timings.ttft_s / res.timings.ttft_s, 3),
            generation_speedup=round(base.timings.total_s / res.timings.total_s, 3),
            token_agreement=round(same / max(len(base.token_ids), 1), 4),
        )
    return out


def cmd_generate(args) -> int:
    import torch

    from .model import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    prompt = read_prompt(args)
    if not prompt.strip():
        raise CliError("prompt is empty: the prompt file holds no text")
    cfg = config_from_args(args)
    lm = load_model(args.model)
    cfg = cfg.resolved(lm.num_layers)  # layer ranges checked before anything runs
    show = not args.json
    base = None
    if args.compare:
        base = _generate(lm, prompt, LazyConfig.preset("baseline"), args, False, show)
    res = _generate(lm, prompt, cfg, args, args.trace_out is not None, show)
    if args.trace_out:
        Path(args.trace_out).write_text(res.trace.to_json())
    out = summary(res, base)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(res.text)
    print(
        f"\n[{out['config']}] TTFT {out['ttft_s']:.3f} s, total {out['total_s']:.3f} s, "
        f"compute fraction {out['compute_fraction']:.3f}, prompt tokens used {out['prompt_tokens_used']:.3f}"
    )
    if base is not None:
        print(f"[baseline] TTFT {out['baseline_ttft_s']:.3f} s, total {out['baseline_total_s']:.3f} s")
        print(
            f"TTFT speedup {out['ttft_speedup']:.2f}x, generation speedup {out['generation_speedup']:.2f}x, "
            f"greedy-token agreement {out['token_agreement']:.0%}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lazyllm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate with LazyLLM and print text, TTFT and compute fraction")
    add_generate_options(gen)
    gen.set_defaults(func=cmd_generate)
    from . import bench, bench_speed, verify

    bench_speed.add_subcommand(sub)
    verify.add_subcommand(sub)
    bench.add_subcommands(sub)
    return parser


def main(argv=None) -> int:
    from transformers.utils import logging as hf_logging

    from .model import ModelLoadError

    hf_logging.disable_progress_bar()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, ValueError, ModelLoadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
