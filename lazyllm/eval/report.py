"""Writing a bench's results: markdown tables, CSV, JSON, and the accuracy vs TTFT figure.

Outputs (``--out DIR``): ``<name>.md`` (tables), ``<name>.csv`` (summary rows), ``<name>.json``
(summary, per-example records, the run's settings), ``<name>.html`` and ``<name>.png`` (figure).
plotly (the ``[eval]`` extra) is imported inside the figure functions only.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .run import Record
from .summary import Row, mean

# (Row field, column title, format)
COLUMNS = (
    ("strategy", "strategy", "{}"),
    ("task", "task", "{}"),
    ("length", "length", "{}"),
    ("n", "n", "{}"),
    ("accuracy", "accuracy %", "{:.1f}"),
    ("accuracy_delta", "Δ acc", "{:+.1f}"),
    ("lost", "lost", "{}"),
    ("gained", "gained", "{}"),
    ("ttft_s", "TTFT s", "{:.3f}"),
    ("ttft_speedup", "TTFT speedup", "{:.2f}x"),
    ("total_s", "total s", "{:.3f}"),
    ("generation_speedup", "gen. speedup", "{:.2f}x"),
    ("compute_fraction", "compute fraction", "{:.2f}"),
    ("tokens_used", "prompt tokens used", "{:.2f}"),
    ("top1_agreement", "top-1 agree (forced)", "{:.2f}"),
    ("mean_kl", "mean KL (forced)", "{:.3f}"),
    ("prompt_tokens", "prompt tokens", "{:.0f}"),
)


def markdown_table(rows: Sequence[Row], columns=COLUMNS) -> str:
    """A markdown table of summary rows."""
    head = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(fmt.format(getattr(r, key)) for key, _, fmt in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


TUNE_COLUMNS = tuple(c for c in COLUMNS if c[0] in {
    "strategy", "n", "accuracy", "accuracy_delta", "lost", "gained", "mean_kl", "top1_agreement", "ttft_speedup",
    "compute_fraction",
})  # fmt: skip


def verdict_table(rows: Sequence[Row], verdicts: dict[str, str]) -> str:
    """The tune table: per candidate, examples lost / gained, mean KL, TTFT speedup, and `verdicts`
    (label -> which pick's constraints it meets, or why none)."""
    table = markdown_table(rows, TUNE_COLUMNS).splitlines()
    table[0] += " meets |"
    table[1] += "---|"
    return "\n".join(
        [*table[:2], *(line + f" {verdicts[r.strategy]} |" for line, r in zip(table[2:], rows, strict=True))]
    )


def longbench_table(records: Sequence[Record]) -> str:
    """LongBench scores (0-100) per dataset averaged into the paper's task groups, per candidate."""
    from .longbench import group_scores

    lines = ["## LongBench groups (paper Table 1)", "", "| strategy | group | score |", "|---|---|---|"]
    for label in dict.fromkeys(r.strategy for r in records):
        per = {}
        for task in dict.fromkeys(r.task for r in records):
            per[task] = round(
                100 * mean(r.score for r in records if r.strategy == label and r.task == task), 2
            )
        for group, score in group_scores(per).items():
            lines.append(f"| {label} | {group} | {score:.2f} |")
    return "\n".join(lines)


# ---- figures ----------------------------------------------------------------------------------------

KIND_COLORS = {"baseline": "#444444", "lazy": "#1f77b4", "static": "#d62728", "random": "#ff7f0e"}


def tradeoff_figure(rows: Sequence[Row], title: str, x: str = "ttft_speedup", front: Sequence[str] = ()):
    """Accuracy vs TTFT speedup (paper Fig. 5 style): one marker per candidate, task "all" rows;
    diamonds mark scoring variants (beyond the paper).

    front: labels of Pareto-optimal candidates, joined by a line.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    pts = [r for r in rows if r.task == "all"]
    for kind, color in KIND_COLORS.items():
        mine = [r for r in pts if r.kind == kind]
        if mine:
            fig.add_trace(_markers(go, mine, x, kind, color))
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


def _markers(go, rows: Sequence[Row], x: str, kind: str, color: str):
    """One kind's markers: circles for the paper's scoring, diamonds for scoring variants."""
    return go.Scatter(
        x=[getattr(r, x) for r in rows],
        y=[r.accuracy for r in rows],
        mode="markers+text",
        name=kind,
        text=[r.strategy for r in rows],
        textposition="top center",
        textfont=dict(size=9),
        marker=dict(
            size=10, color=color, symbol=["circle" if r.variant == "paper" else "diamond" for r in rows]
        ),
        customdata=[[r.compute_fraction, r.n, r.top1_agreement] for r in rows],
        hovertemplate="%{text}<br>x %{x:.2f}<br>accuracy %{y:.1f}%<br>compute %{customdata[0]:.2f}, "
        "n %{customdata[1]}<br>top-1 agreement (forced) %{customdata[2]:.2f}<extra></extra>",
    )


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


# ---- files ------------------------------------------------------------------------------------------


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


def run_info(lm) -> RunInfo:
    """The model, device, threads, versions and command line of this run."""
    import torch

    cpu = platform.processor() or platform.machine()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return RunInfo(
        command="python -m lazyllm " + " ".join(sys.argv[1:]) if sys.argv else "",
        model=lm.name,
        num_layers=lm.num_layers,
        device=str(lm.device),
        dtype=str(lm.dtype).removeprefix("torch."),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        machine=f"{platform.system()} {cpu}, {cpus} CPUs",
        started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    )


def write_rows_csv(rows: Sequence[Row], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(Row.__dataclass_fields__))
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(r).items()})


def write_outputs(
    out: Path,
    name: str,
    info: RunInfo,
    rows: Sequence[Row],
    records: Sequence[Record],
    md_extra: str = "",
    fig=None,
    extra: dict | None = None,
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
