"""Command line: `python -m lazyllm generate|scan|bench|tune|bench-speed|verify ...`.

Errors in the input print one line naming the problem and exit with status 2; no stack trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import PRESETS, STRATEGIES, LazyConfig
from .extras import CliError

MAX_PROMPT_FILE_BYTES = 5 * 1024 * 1024


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


def config_from_args(args, num_layers: int, layer_types=None) -> LazyConfig:
    """--preset, --schedule, --strategy and the scoring options, through LazyConfig.from_user.

    layer_types: the model's (LoadedModel.layer_types): a schedule may name only its global layers."""
    return LazyConfig.from_user(
        preset=args.preset,
        schedule=args.schedule,
        strategy=args.strategy,
        window=args.window,
        pool=args.pool,
        sinks=args.sinks,
        num_layers=num_layers,
        layer_types=layer_types,
    )


def add_generate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt-file", help="file with the prompt text (UTF-8); - reads standard input")
    p.add_argument("--prompt", help="the prompt text itself (instead of --prompt-file)")
    p.add_argument("--preset", choices=list(PRESETS), help="a named config (default: default)")
    p.add_argument(
        "--schedule",
        help='pruning layers and keep fractions, e.g. "9:0.7,19:0.7,28:0.7" (overrides the preset\'s)',
    )
    p.add_argument("--strategy", choices=STRATEGIES, help="default: the preset's (lazy)")
    p.add_argument(
        "--window", type=int, help="score with the last W queries (beyond the paper; default: the preset's)"
    )
    p.add_argument(
        "--pool", type=int, help="max-pool scores over P neighbours (beyond the paper; default: the preset's)"
    )
    p.add_argument(
        "--sinks", type=int, help="always keep the first S tokens (beyond the paper; default: the preset's)"
    )
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument(
        "--model",
        default=None,
        help="hub id, local folder, or gemma3-270m (optional package) (default: the embedded SmolLM2)",
    )
    p.add_argument("--no-chat", action="store_true", help="feed the text as is, without the chat template")
    p.add_argument("--compare", action="store_true", help="also run the baseline: speedups and fidelity")
    p.add_argument("--trace-out", help="write the instrumented trace JSON here")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _progress(update, prompt_len: int, max_new: int, run: str = "") -> None:
    if update.step == 0:
        what = f"{run} prefill" if run else "prefill"
        print(f"{what}: {prompt_len} prompt tokens in {update.seconds:.2f} s", file=sys.stderr)
    elif update.step % 8 == 0 or update.done:
        print(f"\rdecode: {update.step + 1}/{max_new} tokens", end="", file=sys.stderr, flush=True)
    if update.done and update.step > 0:
        print(file=sys.stderr)


def _generate(lm, prompt_ids, cfg, args, instrument: bool, show_progress: bool):
    """One run (no --compare), with a progress line on stderr."""
    from .generate import generate_stream

    if show_progress:
        print(f"running {cfg.describe()} ...", file=sys.stderr)
    updates = generate_stream(
        lm, prompt_ids, config=cfg, max_new_tokens=args.max_new_tokens, instrument=instrument
    )
    for update in updates:
        if show_progress:
            _progress(update, len(prompt_ids), args.max_new_tokens)
        if update.done:
            return update.result
    raise RuntimeError("generation ended without a result")


def _compare(lm, prompt_ids, cfg, args, instrument: bool, show_progress: bool):
    """--compare: lazyllm.compare's one sequence (pruned run, baseline, teacher-forced twin)."""
    from .compare import compare_stream

    if show_progress:
        print(f"running {cfg.describe()}, then the baseline ...", file=sys.stderr)
    updates = compare_stream(lm, prompt_ids, cfg, max_new_tokens=args.max_new_tokens, instrument=instrument)
    for u in updates:
        if u.done:
            return u.result
        if show_progress and u.run != "teacher-forced":  # the forced twin is not timed
            _progress(u.update, len(prompt_ids), args.max_new_tokens, u.run)
    raise RuntimeError("the comparison ended without a result")


def summary(res, comparison=None) -> dict:
    """What `generate --json` prints: the run, and with --compare the Comparison (lazyllm.compare)."""
    from .compare import config_summary

    out = {
        "text": res.text,
        "config": config_summary(res.config),
        "prompt_tokens": res.stats.prompt_len,
        "new_tokens": len(res.token_ids),
        "ttft_s": round(res.timings.ttft_s, 4),
        "total_s": round(res.timings.total_s, 4),
        "compute_fraction": round(res.stats.prompt_compute_fraction, 4),
        "prompt_tokens_used": round(res.stats.prompt_tokens_used_fraction, 4),
    }
    if comparison is not None:
        from .compare import verdict

        out.update(comparison.to_dict())  # baseline_*, ttft_speedup, token_agreement, kl_per_step, ...
        out["verdict"] = verdict(comparison)
    return out


def prompt_and_model(args):
    """The prompt (non-empty) and the model of a generate/scan command, with its torch threads."""
    import torch

    from .model import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    prompt = read_prompt(args)
    if not prompt.strip():
        raise CliError("prompt is empty: the prompt file holds no text")
    return prompt, load_model(args.model)


def cmd_generate(args) -> int:
    from .compare import verdict
    from .generate import encode_prompt

    prompt, lm = prompt_and_model(args)
    cfg = config_from_args(args, lm.num_layers, lm.layer_types)  # layer ranges checked before anything runs
    ids = encode_prompt(lm, prompt, chat=not args.no_chat)
    show, instrument = not args.json, args.trace_out is not None
    comparison = None
    if args.compare:
        _, res, comparison = _compare(lm, ids, cfg, args, instrument, show)
    else:
        res = _generate(lm, ids, cfg, args, instrument, show)
    if args.trace_out:
        Path(args.trace_out).write_text(res.trace.to_json())
    out = summary(res, comparison)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(res.text)
    print(
        f"\n[{cfg.describe()}] TTFT {out['ttft_s']:.3f} s, total {out['total_s']:.3f} s "
        f"({len(res.token_ids)} steps), compute fraction {out['compute_fraction']:.3f} (whole generation), "
        f"prompt tokens used {out['prompt_tokens_used']:.3f}"
    )
    if comparison is not None:
        c = comparison
        steps = len(c.baseline_tokens)
        print(f"[baseline] TTFT {c.baseline_ttft_s:.3f} s, total {c.baseline_total_s:.3f} s ({steps} steps)")
        print(
            f"TTFT speedup {c.ttft_speedup:.2f}x, whole-generation speedup {c.generation_speedup:.2f}x "
            f"(over the {c.timed_steps} steps both runs took; timed: {c.timing}); "
            f"{verdict(c)} Free-running token agreement {c.token_agreement:.0%}; teacher-forced: "
            f"top-1 agreement {c.top1_agreement:.0%}, mean KL {c.mean_kl:.3g} nats"
        )
    return 0


def cmd_scan(args) -> int:
    """`scan`: where a span ranks in the last token's attention at every layer (no pruning)."""
    from .scan import scan

    if not 0.0 < args.keep <= 1.0:
        raise CliError(f"--keep must be in (0, 1], got {args.keep}")
    prompt, lm = prompt_and_model(args)
    result, base, plain_s = scan(lm, prompt, args.span, args.keep, not args.no_chat, args.max_new_tokens)
    if result is None:
        raise CliError("no span: the output copies no run of 3+ prompt tokens; give --span TEXT")
    a, b = result.span
    span_text = (
        "".join(lm.tokenizer.decode([i]) for i in base.prompt_ids[a:b]) if lm.tokenizer else f"{a}-{b}"
    )
    cost = {"scan_prefill_s": round(base.timings.ttft_s, 4), "plain_prefill_s": round(plain_s, 4)}
    if args.json:
        out = dict(span=[a, b], span_text=span_text, keep=args.keep, safe_from=result.safe_from,
                   layers=result.rows(), output=base.text, **cost)  # fmt: skip
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"span: tokens {a}-{b - 1} {span_text!r}{'' if args.span else ' (copied by the output)'}")
    print(f"output: {base.text!r}\n")
    print("| layer | best token (percentile) | worst token | attention on the span |\n|---|---|---|---|")
    for r in result.rows():
        print(f"| {r['layer']} | {r['best']:.1%} | {r['worst']:.1%} | {r['mass']:.2%} |")
    where = "never" if result.safe_from is None else f"from layer {result.safe_from} on"
    print(f"\nthe whole span is inside the top {args.keep:.0%}: {where}")
    print(f"cost: scan prefill {cost['scan_prefill_s']:.3f} s, plain prefill {cost['plain_prefill_s']:.3f} s")
    return 0


def add_scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt-file", help="file with the prompt text (UTF-8); - reads standard input")
    p.add_argument("--prompt", help="the prompt text itself (instead of --prompt-file)")
    p.add_argument("--span", help="text to follow (default: the prompt span the output copies)")
    p.add_argument("--keep", type=float, default=0.5, help="the keep fraction to check the span against")
    p.add_argument("--max-new-tokens", type=int, default=16, help="tokens of the output that picks the span")
    p.add_argument(
        "--model",
        default=None,
        help="hub id, local folder, or gemma3-270m (optional package) (default: the embedded SmolLM2)",
    )
    p.add_argument("--no-chat", action="store_true", help="feed the text as is, without the chat template")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lazyllm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate with LazyLLM and print text, TTFT and compute fraction")
    add_generate_options(gen)
    gen.set_defaults(func=cmd_generate)
    sc = sub.add_parser(
        "scan", help="layer scan: where a span ranks in the last token's attention, per layer"
    )
    add_scan_options(sc)
    sc.set_defaults(func=cmd_scan)
    from .eval import commands

    commands.add_subcommands(sub)
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
