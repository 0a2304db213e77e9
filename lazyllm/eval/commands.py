"""`python -m lazyllm bench` and `tune`, and the registration of every harness command.

``bench`` runs candidates (the baseline, ``lazy`` presets and schedules, ``static`` and ``random`` at
the budget of the first lazy entry; paper Table 1) over tasks and lengths in one process
(``run.run_bench``), and writes tables, CSV, JSON and the figure (``report``).

``tune`` sweeps schedules (stages as depth fractions, so a result transfers to other depths) and
the scoring variants on the dev split (``search``: a screen on the first examples, then the survivors
on all), reports every candidate's examples lost / gained, mean KL and TTFT speedup and the Pareto
front, picks accuracy first (``summary.Objective``: the fastest that loses at most --max-lost examples
within --max-kl; and the fastest within --max-drop points), and checks the picks on the test split.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

from ..extras import require_extra
from . import speed, verify
from .models import add_model_options, load_bench_model
from .plan import (
    Candidate,
    baseline,
    build_candidates,
    candidate_stages,
    distinct,
    parse_list,
    same_budget,
    tune_candidates,
)
from .report import longbench_table, markdown_table, run_info, tradeoff_figure, verdict_table, write_outputs
from .run import Record, items_for, run_bench
from .search import search
from .summary import Objective, Row, pareto_front, picks, summarize
from .tasks import TASKS, parse_length

DEFAULT_TASKS = "passkey,kv,mdqa,multikey"
DEFAULTS = dict(tasks=DEFAULT_TASKS, lengths="2k", n=5, presets="paper,default,fast", max_new_tokens=None)
QUICK = dict(tasks=DEFAULT_TASKS, lengths="1k", n=2, presets="paper", max_new_tokens=None)
# tune: mdqa is left out (the embedded model's baseline scores ~0% on it at 2k: nothing to keep)
TUNE_TASKS = "passkey,kv,multikey,notes"
TUNE_DEFAULTS = dict(DEFAULTS, tasks=TUNE_TASKS, n=10, screen="1,2")
TUNE_QUICK = dict(QUICK, tasks=TUNE_TASKS, n=2, screen="1")


# ---- arguments -> what runs -------------------------------------------------------------------------


def apply_quick(args, defaults: dict = DEFAULTS, quick: dict = QUICK) -> None:
    """--quick: the `quick` values for every option left at its default."""
    if args.quick:
        for key, value in quick.items():
            if hasattr(args, key) and getattr(args, key) == defaults.get(key):
                setattr(args, key, value)


def bench_candidates(args, num_layers: int | None = None) -> list[Candidate]:
    """--presets, --schedules (layers: needs the model's `num_layers`), --strategies, --window/--pool/--sinks."""
    variant = dict(window=args.window, pool=args.pool, sinks=args.sinks)
    schedules = args.schedules if num_layers is not None else ""
    return build_candidates(args.presets, schedules, args.strategies, num_layers, args.stages, **variant)


def tune_plan(args, num_layers: int) -> list[Candidate]:
    """The sweep: --stages and --schedules if given, else the built-in grid, times the scoring variants."""
    grid = parse_list(args.stages, ";")
    schedules = parse_list(args.schedules, ";")
    if not grid and not schedules:
        grid = candidate_stages(quick=args.quick)
    return tune_candidates(grid, schedules, scoring_variants(args), num_layers)


def scoring_variants(args) -> list[dict]:
    """--windows x --pools x --sinks-list, as window / pool / sinks keyword arguments."""
    return [
        dict(window=w, pool=p, sinks=s)
        for w in ints(args.windows)
        for p in ints(args.pools)
        for s in ints(args.sinks_list)
    ]


def ints(text: str) -> list[int]:
    try:
        return [int(t) for t in parse_list(text, ",")]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


def builtin_tasks(args) -> tuple[list[str], list[int]]:
    """--tasks (built-in tasks, checked) and --lengths (in tokens)."""
    tasks = parse_list(args.tasks, ",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"--tasks: unknown task(s) {', '.join(unknown)}; known: {', '.join(TASKS)}")
    return tasks, [parse_length(t) for t in parse_list(args.lengths, ",")]


def select_items(args, lm, split: str, n: int):
    """Built-in examples, or LongBench items with --longbench (middle-truncated to --max-prompt-tokens)."""
    from . import longbench

    if not args.longbench:
        return items_for(*builtin_tasks(args), n, split)
    names = parse_list(args.tasks, ",") if args.tasks not in (DEFAULT_TASKS, TUNE_TASKS) else None
    items = longbench.load_dir(args.longbench, names, limit=n)
    return longbench.fit(items, lm.tokenizer, args.max_prompt_tokens or (lm.max_context - 512))


# ---- bench ------------------------------------------------------------------------------------------


def cmd_bench(args) -> int:
    """`bench`: candidates x tasks x lengths on one model; tables, CSV/JSON and the figure."""
    require_extra("bench", "eval", "plotly")
    apply_quick(args)
    t0 = time.perf_counter()
    bench_candidates(args)  # bad presets, strategies or scoring options fail before the model loads
    lm = load_bench_model(args)
    candidates = bench_candidates(args, lm.num_layers)
    info = run_info(lm)
    items = select_items(args, lm, args.split, args.n)
    records = run_bench(lm, candidates, items, max_new_tokens=args.max_new_tokens, seed=args.seed)
    rows = summarize(records)
    info.seconds = time.perf_counter() - t0
    fig = tradeoff_figure(rows, f"Accuracy vs TTFT speedup — {lm.name}, {args.split} split")
    md = "## Overall (all tasks)\n\n" + markdown_table([r for r in rows if r.task == "all"])
    md += "\n\n## Per task\n\n" + markdown_table([r for r in rows if r.task != "all"]) + "\n"
    if args.longbench:
        md += "\n" + longbench_table(records) + "\n"
    text = write_outputs(
        Path(args.out), args.name or "bench", info, rows, records, md, fig, png=not args.no_png
    )
    print(text)
    return 0


# ---- tune -------------------------------------------------------------------------------------------


def check_on_test(lm, args, chosen: list[Candidate], n: int) -> tuple[list[Record], list[Row]]:
    """Baseline, the chosen schedules, and static/random at the first one's budget, on the test split."""
    candidates = distinct(
        [baseline(), *chosen, same_budget(chosen[0], "static"), same_budget(chosen[0], "random")]
    )
    items = select_items(args, lm, "test", n)
    records = run_bench(lm, candidates, items, max_new_tokens=args.max_new_tokens, seed=args.seed)
    return records, summarize(records)


def objective_of(args) -> Objective:
    return Objective(max_lost=args.max_lost, max_kl=args.max_kl, max_drop=args.max_drop)


def tune_markdown(rows: list[Row], objective: Objective, n_dev: int) -> tuple[str, list[Row], dict]:
    """The dev tables (every candidate, with which pick's constraints it meets; the Pareto front; the
    picks), the front, and the picks. Only candidates that ran every dev example can be picked."""
    overall = sorted((r for r in rows if r.task == "all"), key=lambda r: -r.ttft_speedup)
    finished = [r for r in overall if r.n == n_dev]
    stopped = [r for r in overall if r.n < n_dev]
    front = pareto_front(finished)
    chosen = picks(finished, objective)
    o = objective
    md = (
        f"Objective (accuracy first): `default` = the fastest that loses at most {o.max_lost} example(s) "
        f"against the baseline with mean teacher-forced KL <= {o.max_kl:g} nats; `fast` = the fastest within "
        f"{o.max_drop:g} accuracy points.\n\n## Dev split: candidates that ran all {n_dev} examples, fastest first\n\n"
    )
    verdicts = {r.strategy: "reference" if r.kind == "baseline" else o.verdict(r) for r in finished}
    md += verdict_table(finished, verdicts)
    if stopped:
        allowed = o.net_loss_allowed(n_dev)
        why = {r.strategy: f"stopped after {r.n}: " + (
            f"lost - gained > {allowed}" if r.lost - r.gained > allowed else "beaten by faster ones"
        ) for r in stopped}  # fmt: skip
        md += "\n\n## Stopped by the screen (see lazyllm/eval/search.py)\n\n" + verdict_table(stopped, why)
    md += "\n\n## Pareto front (accuracy vs TTFT speedup)\n\n" + markdown_table(front) + "\n"
    for name, r in chosen.items():
        md += f"\nPick `{name}`: `{r.strategy}`: lost {r.lost}, gained {r.gained}, mean KL {r.mean_kl:.3f}, "
        md += f"{r.ttft_speedup:.2f}x TTFT, accuracy {r.accuracy:.1f} ({r.accuracy_delta:+.1f}).\n"
    if not chosen:
        md += "\nNo candidate meets either pick's constraints on dev.\n"
    return md, front, chosen


def cmd_tune(args) -> int:
    """`tune`: search on dev, every candidate's verdict, Pareto front, accuracy-first picks, check on test."""
    require_extra("tune", "eval", "plotly")
    apply_quick(args, TUNE_DEFAULTS, TUNE_QUICK)
    t0 = time.perf_counter()
    scoring_variants(args)  # bad lists fail before the model loads
    screen, objective = ints(args.screen), objective_of(args)
    lm = load_bench_model(args)
    candidates = tune_plan(args, lm.num_layers)
    info = run_info(lm)
    print(f"tune: {len(candidates) - 1} candidate schedules on the dev split", file=sys.stderr)
    if args.longbench:
        items = select_items(args, lm, "dev", args.n)
        records = run_bench(lm, candidates, items, max_new_tokens=args.max_new_tokens, seed=args.seed)
    else:
        tasks, lengths = builtin_tasks(args)
        records = search(
            lm, candidates, tasks, lengths, args.n, screen, objective, spares=args.spares,
            max_new_tokens=args.max_new_tokens, seed=args.seed,
        )  # fmt: skip
    rows = summarize(records, by_length=False)
    n_dev = len({r.uid for r in records})
    md, front, chosen = tune_markdown(rows, objective, n_dev)
    by_label = {c.label: c for c in candidates}
    extra = {"pareto": [r.strategy for r in front], "chosen": {k: r.strategy for k, r in chosen.items()}}
    test_records: list[Record] = []
    if chosen and args.n_test > 0:
        picked = distinct([by_label[r.strategy] for r in chosen.values()])
        test_records, test_rows = check_on_test(lm, args, picked, args.n_test)
        md += f"\n## The picks on the test split ({args.n_test} examples per task)\n\n"
        md += markdown_table([r for r in test_rows if r.task == "all"]) + "\n\n"
        md += markdown_table([r for r in test_rows if r.task != "all"]) + "\n"
        extra.update(chosen_configs=[asdict(c.config) for c in picked], test=[asdict(r) for r in test_rows])
    info.seconds = time.perf_counter() - t0
    fig = tradeoff_figure(rows, f"Tune (dev split) — {lm.name}", front=[r.strategy for r in front])
    out, name = Path(args.out), args.name or "tune"
    text = write_outputs(out, name, info, rows, records + test_records, md, fig, extra, png=not args.no_png)
    print(text)
    return 0


# ---- the command line -------------------------------------------------------------------------------


BENCH_QUICK_HELP = (
    "a small run: 4 tasks x 2 dev examples at ~1k tokens; baseline, paper, static and random "
    "(~3.5 min on 2 idle CPU cores)"
)
TUNE_QUICK_HELP = "a small run: the quick schedule grid, 2 dev examples per task, one screen"


def add_common(p, quick_help: str) -> None:
    """Options shared by bench and tune."""
    p.add_argument(
        "--tasks", default=DEFAULT_TASKS, help="built-in tasks, or LongBench datasets with --longbench"
    )
    p.add_argument("--lengths", default=DEFAULTS["lengths"], help="prompt lengths in tokens, e.g. 1k,2k,4k")
    p.add_argument("--n", type=int, default=DEFAULTS["n"], help="examples per task and length")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: each task's own budget")
    p.add_argument(
        "--longbench", help="folder of LongBench <dataset>.jsonl files (or one file) instead of tasks"
    )
    p.add_argument("--max-prompt-tokens", type=int, default=None, help="LongBench middle truncation")
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", default="results", help="output folder")
    p.add_argument("--name", default=None, help="output file stem (default: bench / tune)")
    p.add_argument("--no-png", action="store_true", help="skip the PNG figure (kaleido needs Chromium)")
    add_model_options(p)


def add_bench(sub) -> None:
    b = sub.add_parser("bench", help="accuracy vs TTFT of strategies over tasks (paper Table 1 / Fig. 5)")
    add_common(b, BENCH_QUICK_HELP)
    b.add_argument("--presets", default=DEFAULTS["presets"], help="lazy presets to run, comma-separated")
    b.add_argument("--schedules", default="", help='extra lazy schedules, e.g. "9:0.7,19:0.7;5:0.5"')
    b.add_argument(
        "--stages", default="", help='lazy depth-fraction schedules, e.g. "0.47:0.2;0.4:0.4,0.6:0.4"'
    )
    b.add_argument("--strategies", default="static,random", help="baselines at the first lazy budget")
    b.add_argument("--split", default="dev", choices=["dev", "test"])
    b.add_argument(
        "--window",
        type=int,
        default=None,
        help="scoring variant for the lazy runs (beyond the paper; default: the preset's own, else 1)",
    )
    b.add_argument("--pool", type=int, default=None, help="default: the preset's own, else 1")
    b.add_argument("--sinks", type=int, default=None, help="default: the preset's own, else 0")
    b.set_defaults(func=cmd_bench)


def add_tune(sub) -> None:
    t = sub.add_parser("tune", help="sweep schedules on dev, Pareto front, check the pick on test")
    add_common(t, TUNE_QUICK_HELP)
    t.add_argument("--stages", default="", help='depth-fraction schedules, e.g. "0.3:0.5,0.6:0.5;0.2:0.3"')
    t.add_argument("--schedules", default="", help='layer schedules, e.g. "9:0.7,19:0.7;5:0.5"')
    t.add_argument("--windows", default="1", help="scoring windows to sweep, e.g. 1,8")
    t.add_argument("--pools", default="1", help="pooling widths to sweep (odd), e.g. 1,5")
    t.add_argument("--sinks-list", default="0", help="attention sinks to sweep, e.g. 0,4")
    t.add_argument("--max-lost", type=int, default=1, help="examples the `default` pick may lose on dev")
    t.add_argument(
        "--max-kl", type=float, default=0.3, help="mean teacher-forced KL (nats) the `default` pick may reach"
    )
    t.add_argument(
        "--max-drop", type=float, default=5.0, help="accuracy points the `fast` pick may lose on dev"
    )
    t.add_argument(
        "--screen",
        default=TUNE_DEFAULTS["screen"],
        help="examples per task after which candidates that lost too many stop, e.g. 1,3 ('': no screen)",
    )
    t.add_argument(
        "--spares",
        type=int,
        default=2,
        help="at the last screen, keep a candidate unless this many faster ones beat it",
    )
    t.add_argument("--n-test", type=int, default=0, help="test-split examples per task to check the picks")
    t.set_defaults(func=cmd_tune, tasks=TUNE_TASKS, n=TUNE_DEFAULTS["n"])


def add_subcommands(sub) -> None:
    """Register the harness commands (bench, tune, bench-speed, verify) on the CLI's subparsers."""
    add_bench(sub)
    add_tune(sub)
    speed.add_subcommand(sub)
    verify.add_subcommand(sub)
