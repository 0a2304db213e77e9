"""`python -m lazyllm bench` and `tune`: the paper's accuracy / TTFT trade-off, measured (issue 4).

``bench`` runs strategies (the baseline, ``lazy`` presets and schedules, ``static`` and ``random`` at
the budget of the first lazy schedule; paper Table 1) over tasks and lengths in one process. For each
example the strategies run back to back, in an order rotated from example to example, so machine
noise hits them alike; speedups are ratios of means over the same examples of the same run.

``tune`` sweeps schedules (stages as depth fractions, so a result transfers to other depths) and the
scoring variants on the dev split, reports the Pareto front of accuracy vs TTFT speedup, picks a
schedule, and checks it on the test split (other seeds).

Outputs (``--out DIR``): ``<name>.md`` (tables), ``<name>.csv`` (summary rows), ``<name>.json``
(summary, per-example records, the run's settings), ``<name>.html`` and ``<name>.png`` (figure).
"""

from __future__ import annotations

import csv
import itertools
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from lazyllm.config import PRESETS, LazyConfig, parse_schedule

BASELINE = "baseline"
QUICK = dict(tasks="passkey,kv,mdqa,multikey", lengths="2k", n=3, presets="paper", max_new_tokens=None)


# ---- strategies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """A labelled config; `kind` is "baseline", "lazy", "static" or "random" (for plots)."""

    label: str
    config: LazyConfig
    kind: str


def lazy_from_stages(stages, label: str | None = None, **variant) -> Strategy:
    """A `lazy` strategy from depth-fraction stages ((0.3, 0.7), ...)."""
    stages = tuple((float(f), float(k)) for f, k in stages)
    label = label or "lazy " + format_stages(stages) + variant_suffix(**variant)
    return Strategy(label, LazyConfig(stages=stages, name=label, **variant), "lazy")


def format_stages(stages) -> str:
    return ",".join(f"{f:g}:{k:g}" for f, k in stages) or "none"


def variant_suffix(window: int = 1, pool: int = 1, sinks: int = 0) -> str:
    """ " [w8,p3,s4]" for a scoring variant (beyond the paper), "" for the paper's scoring."""
    parts = [f"{c}{v}" for c, v, d in (("w", window, 1), ("p", pool, 1), ("s", sinks, 0)) if v != d]
    return f" [{','.join(parts)}]" if parts else ""


def same_budget(ref: Strategy, kind: str) -> Strategy:
    """`static` or `random` with the schedule of `ref` (the same token-layer budget at prefill)."""
    cfg = LazyConfig(
        schedule=ref.config.schedule,
        stages=ref.config.stages,
        strategy=kind,
        window=ref.config.window,
        pool=ref.config.pool,
        sinks=ref.config.sinks,
        name=f"{kind} @ {ref.label}",
    )
    return Strategy(cfg.name, cfg, kind)


def build_strategies(
    presets: str = "paper", schedules: str = "", strategies: str = "static,random", **variant
):
    """Baseline first, then lazy presets, then lazy schedules ("9:0.7,19:0.7;5:0.5"), then the
    `static` / `random` baselines at the budget of the first lazy entry.

    variant: window / pool / sinks overrides; None keeps a preset's own (e.g. `question`'s window).
    """
    variant = {k: v for k, v in variant.items() if v is not None}
    out = [Strategy(BASELINE, LazyConfig.preset("baseline"), "baseline")]
    for name in _split(presets, ","):
        if name == BASELINE:
            continue
        if name not in PRESETS:
            raise ValueError(f"--presets: unknown preset {name!r}; known: {', '.join(PRESETS)}")
        label = name + variant_suffix(**variant)
        out.append(Strategy(label, replace(LazyConfig.preset(name, **variant), name=label), "lazy"))
    for text in _split(schedules, ";"):
        label = "lazy " + text.replace(" ", "") + variant_suffix(**variant)
        out.append(Strategy(label, LazyConfig(schedule=parse_schedule(text), name=label, **variant), "lazy"))
    lazy = [s for s in out if s.kind == "lazy"]
    for kind in _split(strategies, ","):
        if kind not in ("static", "random", "lazy"):
            raise ValueError(f"--strategies: expected static and/or random, got {kind!r}")
        if kind != "lazy" and lazy:
            out.append(same_budget(lazy[0], kind))
    return out


def _split(text: str | None, sep: str) -> list[str]:
    return [t.strip() for t in (text or "").split(sep) if t.strip()]


# ---- running --------------------------------------------------------------------------------------


@dataclass
class Record:
    """One (example, strategy) run."""

    strategy: str
    kind: str
    task: str
    length: int
    uid: str
    score: float
    ttft_s: float
    total_s: float
    new_tokens: int
    prompt_tokens: int
    compute_fraction: float
    tokens_used: float
    prediction: str


def items_for(tasks: Sequence[str], lengths: Sequence[int], n: int, split: str = "dev", start: int = 0):
    """Built-in task examples, grouped so that one length's examples run together."""
    from lazyllm.tasks import make_examples

    return [e for length in lengths for task in tasks for e in make_examples(task, length, n, split, start)]


def run_one(lm, item, strategy: Strategy, max_new_tokens: int | None, seed: int) -> Record:
    """Generate for one item with one strategy and score it."""
    from lazyllm import generate

    budget = max_new_tokens or getattr(item, "max_new_tokens", 32)
    res = generate(lm, item.prompt, config=strategy.config, max_new_tokens=budget, chat=item.chat, seed=seed)
    return Record(
        strategy=strategy.label,
        kind=strategy.kind,
        task=item.task,
        length=int(item.length),
        uid=item.uid,
        score=float(item.score(res.text)),
        ttft_s=res.timings.ttft_s,
        total_s=res.timings.total_s,
        new_tokens=len(res.token_ids),
        prompt_tokens=res.stats.prompt_len,
        compute_fraction=res.stats.prompt_compute_fraction,
        tokens_used=res.stats.prompt_tokens_used_fraction,
        prediction=res.text,
    )


class Progress:
    """A plain-text progress bar on stderr: [#####.....] 12/40 eta 1m03s label."""

    def __init__(self, total: int, enabled: bool = True, width: int = 24):
        self.total, self.done, self.enabled, self.width = total, 0, enabled, width
        self.start = time.perf_counter()

    def step(self, label: str = "") -> None:
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        filled = int(self.width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if self.done >= self.total else ""
        msg = f"\r[{bar}] {self.done}/{self.total} eta {int(eta) // 60}m{int(eta) % 60:02d}s {label[:48]:<48}"
        print(msg, end=end, file=sys.stderr, flush=True)


def run_bench(
    lm,
    strategies: Sequence[Strategy],
    items: Sequence | None = None,
    tasks: Sequence[str] = ("passkey", "kv", "mdqa", "multikey"),
    lengths: Sequence[int] = (2048,),
    n_examples: int = 3,
    max_new_tokens: int | None = None,
    split: str = "dev",
    seed: int = 0,
    progress: bool = True,
    warmup: bool = True,
) -> list[Record]:
    """Run every strategy on every item, interleaved per item (order rotated per item).

    items: any objects with task, length, uid, prompt, chat, max_new_tokens and score(text) (built-in
    examples or LongBench items); default: `n_examples` built-in examples per task and length.
    """
    if not strategies or strategies[0].kind != "baseline":
        raise ValueError("strategies: the first strategy must be the baseline (speedups are relative to it)")
    items = list(items) if items is not None else items_for(tasks, lengths, n_examples, split)
    if not items:
        raise ValueError("no examples to run: give at least one task, length and example")
    if warmup:  # first calls pay one-off costs (on a GPU: every strategy's kernels); not recorded
        for strategy in strategies if lm.device.type == "cuda" else strategies[:1]:
            run_one(lm, items[0], strategy, 2, seed)
    bar = Progress(len(items) * len(strategies), enabled=progress)
    records = []
    for i, item in enumerate(items):
        k = i % len(strategies)
        for strategy in [*strategies[k:], *strategies[:k]]:
            records.append(run_one(lm, item, strategy, max_new_tokens, seed))
            bar.step(f"{item.uid} {strategy.label}")
    return records


# ---- summarising ------------------------------------------------------------------------------------


@dataclass
class Row:
    """Per strategy and task (task "all": every task together; length 0: every length)."""

    strategy: str
    kind: str
    task: str
    length: int
    n: int
    accuracy: float  # mean score x 100
    ttft_s: float  # mean
    total_s: float  # mean
    ttft_speedup: float  # baseline mean TTFT / this mean TTFT, same examples
    generation_speedup: float  # baseline mean total time / this mean total time
    compute_fraction: float  # mean (prompt token, layer) computations / baseline's
    tokens_used: float  # mean fraction of prompt tokens that reached the last layer
    prompt_tokens: float  # mean prompt length in tokens
    new_tokens: float  # mean generated tokens
    accuracy_delta: float = 0.0  # accuracy - baseline accuracy (points)


def _mean(xs) -> float:
    xs = list(xs)
    return float(statistics.fmean(xs)) if xs else float("nan")


def summarize(records: Sequence[Record], baseline: str = BASELINE, by_length: bool = True) -> list[Row]:
    """Aggregate records per (strategy, task, length), plus task "all" per (strategy, length)."""
    strategies = list(dict.fromkeys(r.strategy for r in records))
    kinds = {r.strategy: r.kind for r in records}
    groups: dict[tuple, list[Record]] = {}
    for r in records:
        length = r.length if by_length else 0
        groups.setdefault((r.strategy, r.task, length), []).append(r)
        groups.setdefault((r.strategy, "all", length), []).append(r)
    rows = []
    tasks = list(dict.fromkeys(r.task for r in records)) + ["all"]
    lengths = sorted({key[2] for key in groups})
    for length, task, name in itertools.product(lengths, tasks, strategies):
        mine, base = groups.get((name, task, length)), groups.get((baseline, task, length))
        if mine and base:
            rows.append(_row(name, kinds[name], task, length, mine, base))
    return rows


def _row(name, kind, task, length, mine: list[Record], base: list[Record]) -> Row:
    uids = {r.uid for r in mine}
    base = [r for r in base if r.uid in uids]  # ratios over the same examples
    acc, base_acc = 100 * _mean(r.score for r in mine), 100 * _mean(r.score for r in base)
    ttft, total = _mean(r.ttft_s for r in mine), _mean(r.total_s for r in mine)
    return Row(
        strategy=name,
        kind=kind,
        task=task,
        length=length,
        n=len(mine),
        accuracy=acc,
        ttft_s=ttft,
        total_s=total,
        ttft_speedup=_mean(r.ttft_s for r in base) / ttft,
        generation_speedup=_mean(r.total_s for r in base) / total,
        compute_fraction=_mean(r.compute_fraction for r in mine),
        tokens_used=_mean(r.tokens_used for r in mine),
        prompt_tokens=_mean(r.prompt_tokens for r in mine),
        new_tokens=_mean(r.new_tokens for r in mine),
        accuracy_delta=acc - base_acc,
    )


COLUMNS = (
    ("strategy", "strategy", "{}"),
    ("task", "task", "{}"),
    ("length", "length", "{}"),
    ("n", "n", "{}"),
    ("accuracy", "accuracy %", "{:.1f}"),
    ("accuracy_delta", "Δ acc", "{:+.1f}"),
    ("ttft_s", "TTFT s", "{:.3f}"),
    ("ttft_speedup", "TTFT speedup", "{:.2f}x"),
    ("total_s", "total s", "{:.3f}"),
    ("generation_speedup", "gen. speedup", "{:.2f}x"),
    ("compute_fraction", "compute fraction", "{:.2f}"),
    ("tokens_used", "prompt tokens used", "{:.2f}"),
    ("prompt_tokens", "prompt tokens", "{:.0f}"),
)


def markdown_table(rows: Sequence[Row]) -> str:
    """A markdown table of summary rows."""
    head = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(fmt.format(getattr(r, key)) for key, _, fmt in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


# ---- figures ----------------------------------------------------------------------------------------

KIND_COLORS = {"baseline": "#444444", "lazy": "#1f77b4", "static": "#d62728", "random": "#ff7f0e"}


def tradeoff_figure(rows: Sequence[Row], title: str, x: str = "ttft_speedup", front: Sequence[str] = ()):
    """Accuracy vs TTFT speedup (paper Fig. 5 style): one marker per strategy, task "all" rows;
    diamonds mark scoring variants (beyond the paper).

    front: labels of Pareto-optimal strategies, joined by a line.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    pts = [r for r in rows if r.task == "all"]
    for kind, color in KIND_COLORS.items():
        mine = [r for r in pts if r.kind == kind]
        if mine:
            fig.add_trace(
                go.Scatter(
                    x=[getattr(r, x) for r in mine],
                    y=[r.accuracy for r in mine],
                    mode="markers+text",
                    name=kind,
                    text=[r.strategy for r in mine],
                    textposition="top center",
                    textfont=dict(size=9),
                    marker=dict(size=10, color=color, symbol=[_symbol(r.strategy) for r in mine]),
                    customdata=[[r.compute_fraction, r.n] for r in mine],
                    hovertemplate="%{text}<br>x %{x:.2f}<br>accuracy %{y:.1f}%<br>"
                    "compute %{customdata[0]:.2f}, n %{customdata[1]}<extra></extra>",
                )
            )
    on_front = sorted((r for r in pts if r.strategy in set(front)), key=lambda r: getattr(r, x))
    if on_front:
        fig.add_trace(
            go.Scatter(
                x=[getattr(r, x) for r in on_front],
                y=[r.accuracy for r in on_front],
                mode="lines",
                name="Pareto front",
                line=dict(color="#2ca02c", dash="dot"),
            )
        )
    xtitle = {"ttft_speedup": "TTFT speedup vs baseline (x)", "compute_fraction": "prompt compute fraction"}
    fig.update_layout(
        title=title, xaxis_title=xtitle.get(x, x), yaxis_title="accuracy (%)", template="plotly_white"
    )
    return fig


def _symbol(label: str) -> str:
    """Diamonds for scoring variants (beyond the paper), circles for the paper's scoring."""
    return "diamond" if "[" in label else "circle"


def save_figure(fig, stem: Path, png: bool = True) -> list[str]:
    """Write <stem>.html, and <stem>.png through kaleido (needs Chrome/Chromium); return notes."""
    fig.write_html(str(stem.with_suffix(".html")), include_plotlyjs="cdn")
    if not png:
        return []
    try:
        fig.write_image(str(stem.with_suffix(".png")), width=900, height=600, scale=1)
    except Exception as e:  # kaleido without a browser, or no kaleido at all
        return [f"PNG not written ({type(e).__name__}: {str(e).splitlines()[0][:160]}); HTML only"]
    return []


# ---- Pareto front and tuning --------------------------------------------------------------------


def pareto_front(rows: Sequence[Row], x: str = "ttft_speedup") -> list[Row]:
    """Rows not dominated in (accuracy up, x up); for x = compute_fraction lower is better."""
    sign = -1.0 if x == "compute_fraction" else 1.0

    def dominated(r: Row) -> bool:
        rx = sign * getattr(r, x)
        return any(
            o is not r
            and o.accuracy >= r.accuracy
            and sign * getattr(o, x) >= rx
            and (o.accuracy > r.accuracy or sign * getattr(o, x) > rx)
            for o in rows
        )

    return sorted((r for r in rows if not dominated(r)), key=lambda r: sign * getattr(r, x))


def stage_compute_fraction(stages) -> float:
    """Prefill token-layer work of a stage schedule relative to the baseline (depth fractions)."""
    work, keep, last = 0.0, 1.0, 0.0
    for f, k in stages:
        work += (f - last) * keep
        keep, last = keep * k, f
    return work + (1.0 - last) * keep


def candidate_stages(quick: bool = False) -> list[tuple[tuple[float, float], ...]]:
    """The built-in sweep: 1-3 pruning stages at several depths and keep fractions, plus keep
    fractions that grow with depth; sorted by estimated compute, duplicates removed."""
    keeps = (0.5, 0.3) if quick else (0.7, 0.5, 0.3, 0.2)
    positions = (
        [(0.1,), (0.2,), (0.3,), (0.5,)] if quick else [(0.1,), (0.2,), (0.3,), (0.4,), (0.5,), (0.7,)]
    )
    positions += [(0.2, 0.5), (0.3, 0.6)] if quick else [(0.1, 0.4), (0.2, 0.5), (0.3, 0.6), (0.4, 0.7)]
    positions += [(0.2, 0.4, 0.6)] if quick else [(0.1, 0.3, 0.6), (0.2, 0.4, 0.6), (0.3, 0.6, 0.9)]
    cands = {tuple((f, k) for f in pos) for pos in positions for k in keeps}
    growing = [((0.1, 0.3), (0.3, 0.5), (0.6, 0.7)), ((0.2, 0.3), (0.4, 0.5), (0.6, 0.7))]
    cands |= set(growing[:1] if quick else growing)
    cands = [c for c in cands if 0.15 <= stage_compute_fraction(c) <= 0.8]
    return sorted(cands, key=lambda c: (stage_compute_fraction(c), c))


def parse_stages(text: str) -> tuple[tuple[float, float], ...]:
    """ "0.3:0.7,0.6:0.7" -> ((0.3, 0.7), (0.6, 0.7))."""
    pairs = []
    for item in _split(text, ","):
        f, _, k = item.partition(":")
        try:
            pairs.append((float(f), float(k)))
        except ValueError:
            raise ValueError(f"stages: entries are depth:keep (e.g. 0.3:0.7), got {item!r}") from None
    return tuple(pairs)


def choose(rows: Sequence[Row], max_drop: float, min_speedup: float = 0.0, variants: bool | None = None):
    """The fastest lazy row (task "all") whose accuracy is within `max_drop` points of the baseline.

    variants: False = the paper's scoring only (labels without "[...]"), True = variants only, None = any.
    """
    ok = [
        r
        for r in rows
        if r.kind == "lazy"
        and r.task == "all"
        and r.accuracy_delta >= -max_drop
        and r.ttft_speedup >= min_speedup
        and (variants is None or ("[" in r.strategy) == variants)
    ]
    return max(ok, key=lambda r: (r.ttft_speedup, r.accuracy), default=None)


# ---- writing results --------------------------------------------------------------------------------


@dataclass
class RunInfo:
    """What a reader needs to reproduce a result."""

    command: str
    model: str
    num_layers: int
    device: str
    dtype: str
    threads: int
    torch: str
    machine: str
    started: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def run_info(lm, args) -> RunInfo:
    import torch

    cpu = platform.processor() or platform.machine()
    return RunInfo(
        command="python -m lazyllm " + " ".join(sys.argv[1:]) if sys.argv else "",
        model=lm.name,
        num_layers=lm.num_layers,
        device=str(lm.device),
        dtype=str(lm.dtype).removeprefix("torch."),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        machine=f"{platform.system()} {cpu}, {_cpu_count()} CPUs",
        started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    )


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def write_rows_csv(rows: Sequence[Row], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(rows[0])) if rows else ["strategy"])
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(r).items()})


def write_outputs(
    out: Path,
    name: str,
    info: RunInfo,
    rows,
    records,
    md_extra: str = "",
    fig=None,
    extra=None,
    png: bool = True,
) -> str:
    """Write <name>.md, .csv, .json and the figure into `out`; return the markdown text."""
    out.mkdir(parents=True, exist_ok=True)
    if fig is not None:
        info.notes += save_figure(fig, out / name, png)
    header = (
        f"Model {info.model} ({info.num_layers} layers), {info.device} {info.dtype}, {info.threads} threads, "
        f"torch {info.torch}, {info.machine}; {info.started}, {info.seconds:.0f} s.\n\n"
        f"Command: `{info.command}`\n"
    )
    notes = "".join(f"\nNote: {n}\n" for n in info.notes)
    md = f"# {name}\n\n{header}{notes}\n{md_extra}\n"
    (out / f"{name}.md").write_text(md)
    write_rows_csv(rows, out / f"{name}.csv")
    payload = {
        "info": asdict(info),
        "rows": [asdict(r) for r in rows],
        "records": [asdict(r) for r in records],
    }
    (out / f"{name}.json").write_text(json.dumps({**payload, **(extra or {})}, indent=1, default=str))
    return md


# ---- models ----------------------------------------------------------------------------------------

# name -> (hidden, layers, heads, kv heads, intermediate): Llama-shaped sizes.
RANDOM_SIZES = {
    "135m": (576, 30, 9, 3, 1536),
    "360m": (960, 32, 15, 5, 2560),
    "1b": (2048, 16, 32, 8, 8192),
    "3b": (3072, 28, 24, 8, 8192),
    "7b": (4096, 32, 32, 8, 11008),
    "8b": (4096, 32, 32, 8, 14336),
}


def random_llama_config(size: str, vocab_size: int, max_positions: int = 32768):
    """A LlamaConfig of about `size` parameters ("1b", "7b", ...): timing-only runs, random weights."""
    from transformers import LlamaConfig

    key = size.strip().lower()
    if key not in RANDOM_SIZES:
        raise ValueError(f"--random-weights: size must be one of {', '.join(RANDOM_SIZES)}, got {size!r}")
    hidden, layers, heads, kv, inter = RANDOM_SIZES[key]
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
        max_position_embeddings=max_positions,
        rope_theta=500000.0,
        tie_word_embeddings=False,
    )


def load_tokenizer(source: str | None = None):
    """The tokenizer of `source` (default: the embedded SmolLM2's, read from its GGUF file)."""
    from transformers import AutoTokenizer

    from lazyllm.model import EMBEDDED_FILE, HUB_FALLBACK, embedded_model_path

    if source:
        return AutoTokenizer.from_pretrained(source)
    folder = embedded_model_path()
    if folder is None:
        return AutoTokenizer.from_pretrained(HUB_FALLBACK)
    return AutoTokenizer.from_pretrained(str(folder), gguf_file=EMBEDDED_FILE)


def load_bench_model(args):
    """The model of a bench/tune run: the embedded or given model, or random weights of a size."""
    import torch

    from lazyllm import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if not args.random_weights:
        return load_model(args.model, dtype=args.dtype, device=device)
    from transformers import LlamaForCausalLM

    tok = load_tokenizer(args.model)
    cfg = random_llama_config(args.random_weights, len(tok))
    torch.manual_seed(args.seed)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(dtype)
    model.config._name_or_path = f"random-llama-{args.random_weights}"
    return load_model(model, tokenizer=tok, device=device)


# ---- commands --------------------------------------------------------------------------------------


def _lengths(text: str) -> list[int]:
    from lazyllm.tasks import parse_length

    return [parse_length(t) for t in _split(text, ",")]


def _items(args, lm, split: str, n: int, start: int = 0):
    """Built-in examples, or LongBench items when --longbench is given (truncated to --max-prompt-tokens)."""
    if not args.longbench:
        from lazyllm.tasks import TASKS

        tasks = _split(args.tasks, ",")
        unknown = [t for t in tasks if t not in TASKS]
        if unknown:
            raise ValueError(f"--tasks: unknown task(s) {', '.join(unknown)}; known: {', '.join(TASKS)}")
        return items_for(tasks, _lengths(args.lengths), n, split, start)
    from lazyllm import longbench

    names = _split(args.tasks, ",") if args.tasks != DEFAULT_TASKS else None
    items = longbench.load_dir(args.longbench, names, limit=n)
    limit = args.max_prompt_tokens or (lm.max_context - 512)
    return [TruncatedItem(it, longbench.truncate_middle(lm.tokenizer, it.prompt, limit)) for it in items]


@dataclass(frozen=True)
class TruncatedItem:
    """A LongBench item whose prompt was truncated in the middle to fit the model."""

    item: object
    prompt: str

    def __getattr__(self, name):
        return getattr(self.item, name)

    def score(self, prediction: str) -> float:
        return self.item.score(prediction)


def _apply_quick(args) -> None:
    if args.quick:
        for key, value in QUICK.items():
            if hasattr(args, key) and getattr(args, key) == DEFAULTS.get(key):
                setattr(args, key, value)


def cmd_bench(args) -> int:
    """`bench`: strategies x tasks x lengths on one model; tables, CSV/JSON and the figure."""
    _apply_quick(args)
    t0 = time.perf_counter()
    variant = dict(window=args.window, pool=args.pool, sinks=args.sinks)
    strategies = build_strategies(args.presets, args.schedules or "", args.strategies, **variant)
    lm = load_bench_model(args)
    info = run_info(lm, args)
    items = _items(args, lm, args.split, args.n)
    records = run_bench(lm, strategies, items, max_new_tokens=args.max_new_tokens, seed=args.seed)
    rows = summarize(records)
    info.seconds = time.perf_counter() - t0
    overall = [r for r in rows if r.task == "all"]
    fig = tradeoff_figure(rows, f"Accuracy vs TTFT speedup — {lm.name}, {args.split} split")
    md = "## Overall (all tasks)\n\n" + markdown_table(overall) + "\n\n## Per task\n\n"
    md += markdown_table([r for r in rows if r.task != "all"]) + "\n"
    if args.longbench:
        md += "\n" + longbench_table(records) + "\n"
    text = write_outputs(
        Path(args.out), args.name or "bench", info, rows, records, md, fig, png=not args.no_png
    )
    print(text)
    return 0


def longbench_table(records: Sequence[Record]) -> str:
    """LongBench scores (0-100) per dataset and the paper's task groups, per strategy."""
    from lazyllm.longbench import group_scores

    lines = ["## LongBench groups (paper Table 1)", "", "| strategy | group | score |", "|---|---|---|"]
    for name in dict.fromkeys(r.strategy for r in records):
        per = {}
        for task in dict.fromkeys(r.task for r in records):
            mine = [r.score for r in records if r.strategy == name and r.task == task]
            per[task] = round(100 * _mean(mine), 2)
        for group, score in group_scores(per).items():
            lines.append(f"| {name} | {group} | {score:.2f} |")
    return "\n".join(lines)


def tune_strategies(args) -> list[Strategy]:
    """The sweep: --stages / --schedules if given, else the built-in grid, times the scoring variants."""
    variants = [
        dict(window=w, pool=p, sinks=s)
        for w in _ints(args.windows)
        for p in _ints(args.pools)
        for s in _ints(args.sinks_list)
    ]
    if args.stages:
        grid = [parse_stages(t) for t in _split(args.stages, ";")]
    else:
        grid = candidate_stages(quick=args.quick)
    out = [Strategy(BASELINE, LazyConfig.preset("baseline"), "baseline")]
    for v in variants:
        out += [lazy_from_stages(st, **v) for st in grid]
        for text in _split(args.schedules, ";"):
            label = "lazy " + text.replace(" ", "") + variant_suffix(**v)
            out.append(Strategy(label, LazyConfig(schedule=parse_schedule(text), name=label, **v), "lazy"))
    return out


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _split(text, ",")]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


def check_on_test(lm, args, chosen: Sequence[Strategy], n: int) -> tuple[list[Record], list[Row]]:
    """Baseline, the chosen schedules, and static/random at the first one's budget, on the test split."""
    strategies = [
        Strategy(BASELINE, LazyConfig.preset("baseline"), "baseline"),
        *chosen,
        same_budget(chosen[0], "static"),
        same_budget(chosen[0], "random"),
    ]
    items = _items(args, lm, "test", n)
    records = run_bench(lm, strategies, items, max_new_tokens=args.max_new_tokens, seed=args.seed)
    return records, summarize(records)


def picks(rows: Sequence[Row], strategies: Sequence[Strategy], max_drop: float) -> list[Strategy]:
    """The paper-faithful pick and, if it differs, the best scoring-variant pick (both within max_drop)."""
    by_label = {s.label: s for s in strategies}
    found = [choose(rows, max_drop, variants=False), choose(rows, max_drop, variants=True)]
    return [by_label[r.strategy] for r in found if r is not None]


def cmd_tune(args) -> int:
    """`tune`: sweep on dev, Pareto front, choose within --max-drop points, check on test."""
    _apply_quick(args)
    t0 = time.perf_counter()
    strategies = tune_strategies(args)
    lm = load_bench_model(args)
    info = run_info(lm, args)
    print(f"tune: {len(strategies) - 1} candidate schedules on the dev split", file=sys.stderr)
    records = run_bench(
        lm, strategies, _items(args, lm, "dev", args.n), max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    rows = summarize(records, by_length=False)
    overall = sorted((r for r in rows if r.task == "all"), key=lambda r: -r.ttft_speedup)
    front = pareto_front(overall)
    md = "## Dev split: every candidate (all tasks), fastest first\n\n" + markdown_table(overall)
    md += "\n\n## Pareto front (accuracy vs TTFT speedup)\n\n" + markdown_table(front) + "\n"
    chosen = picks(rows, strategies, args.max_drop)
    extra = {"pareto": [r.strategy for r in front], "chosen": [s.label for s in chosen]}
    test_records: list[Record] = []
    if not chosen:
        md += f"\nNo candidate within {args.max_drop} accuracy points of the baseline on dev.\n"
    elif args.n_test > 0:
        test_records, test_rows = check_on_test(lm, args, chosen, args.n_test)
        names = ", ".join(f"`{s.label}`" for s in chosen)
        md += f"\n## Chosen on dev (within {args.max_drop} points): {names}; test split\n\n"
        md += markdown_table([r for r in test_rows if r.task == "all"]) + "\n\n"
        md += markdown_table([r for r in test_rows if r.task != "all"]) + "\n"
        extra.update(chosen_configs=[asdict(s.config) for s in chosen], test=[asdict(r) for r in test_rows])
    info.seconds = time.perf_counter() - t0
    fig = tradeoff_figure(rows, f"Tune (dev split) — {lm.name}", front=[r.strategy for r in front])
    out, name = Path(args.out), args.name or "tune"
    text = write_outputs(out, name, info, rows, records + test_records, md, fig, extra, png=not args.no_png)
    print(text)
    return 0


DEFAULT_TASKS = "passkey,kv,mdqa,multikey"
DEFAULTS = dict(
    tasks=DEFAULT_TASKS, lengths="2k", n=5, presets="paper,default,aggressive", max_new_tokens=None
)


def add_common(p) -> None:
    """Options shared by bench and tune."""
    p.add_argument("--model", default=None, help="hub id or local folder (default: the embedded SmolLM2)")
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
    p.add_argument("--quick", action="store_true", help="a small run (~5 min on 2 CPU cores)")
    p.add_argument("--out", default="results", help="output folder")
    p.add_argument("--name", default=None, help="output file stem (default: bench / tune)")
    p.add_argument("--no-png", action="store_true", help="skip the PNG figure (kaleido needs Chromium)")
    add_model_options(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the random strategy and random weights")


def add_model_options(p, threads: int | None = None) -> None:
    """--device, --dtype, --threads and --random-weights (shared by bench, tune, bench-speed, verify)."""
    p.add_argument("--device", default=None, choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    p.add_argument(
        "--random-weights", default=None, help="random Llama-shaped model: " + ", ".join(RANDOM_SIZES)
    )


def add_subcommands(subparsers) -> None:
    """Register `bench` and `tune` on the CLI's subparsers (dispatch via args.func)."""
    b = subparsers.add_parser(
        "bench", help="accuracy vs TTFT of strategies over tasks (paper Table 1 / Fig. 5)"
    )
    add_common(b)
    b.add_argument("--presets", default=DEFAULTS["presets"], help="lazy presets to run, comma-separated")
    b.add_argument("--schedules", default="", help='extra lazy schedules, e.g. "9:0.7,19:0.7;5:0.5"')
    b.add_argument("--strategies", default="static,random", help="baselines at the first lazy budget")
    b.add_argument("--split", default="dev", choices=["dev", "test"])
    b.add_argument(
        "--window",
        type=int,
        default=None,
        help="scoring variant for the lazy runs (beyond the paper; default: the preset's own, else 1)",
    )
    b.add_argument("--pool", type=int, default=None)
    b.add_argument("--sinks", type=int, default=None)
    b.set_defaults(func=cmd_bench)
    t = subparsers.add_parser("tune", help="sweep schedules on dev, Pareto front, check the pick on test")
    add_common(t)
    t.add_argument("--stages", default="", help='depth-fraction schedules, e.g. "0.3:0.5,0.6:0.5;0.2:0.3"')
    t.add_argument("--schedules", default="", help='layer schedules, e.g. "9:0.7,19:0.7;5:0.5"')
    t.add_argument("--windows", default="1", help="scoring windows to sweep, e.g. 1,8")
    t.add_argument("--pools", default="1", help="pooling widths to sweep (odd), e.g. 1,5")
    t.add_argument("--sinks-list", default="0", help="attention sinks to sweep, e.g. 0,4")
    t.add_argument("--max-drop", type=float, default=1.0, help="accuracy points the pick may lose on dev")
    t.add_argument("--n-test", type=int, default=5, help="test-split examples per task to check the pick")
    t.set_defaults(func=cmd_tune)
