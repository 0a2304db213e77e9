"""Typed state of the explorer: an example, the view of a run, and the run worker's events.

A `RunView` is what every view draws: the pruned run's trace, its comparison with the baseline, the
layer scan, and the known answer. It is built once per run (or trace file) and never modified; a
session holds it in `gr.State`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from lazyllm import Comparison, Trace
from lazyllm.compare import verdict as verdict_line
from lazyllm.eval.metrics import exact_match, normalize_answer


@dataclass(frozen=True)
class Example:
    """An example prompt (assets/examples/*.json) with its known answer."""

    name: str
    task: str
    prompt: str
    answer: str  # what a right output contains
    answer_span: str  # the text in the prompt that holds the answer (the evidence)
    kind: str = "text"  # how the answer is checked (is_right)
    preset: str = "default"  # the preset picking the example selects (a lesson may need another)


def answer_kind(answer: str) -> str:
    """ "number" for one number, "numbers" for several, "text" otherwise."""
    parts = answer.split()
    if parts and all(p.isascii() and p.isdigit() for p in parts):
        return "number" if len(parts) == 1 else "numbers"
    return "text"


def is_right(text: str, answer: str, kind: str | None = None) -> bool | None:
    """Does `text` give `answer`? None when no answer is known."""
    answer = (answer or "").strip()
    if not answer:
        return None
    kind = kind or answer_kind(answer)
    if kind in ("number", "numbers"):  # the first number(s) of the output (lazyllm.eval.metrics)
        return bool(exact_match(text, answer, kind))
    want = normalize_answer(answer)  # text: the answer's words anywhere in the output, as whole words
    return bool(want) and f" {want} " in f" {normalize_answer(text)} "


@dataclass(frozen=True)
class RunView:
    """Everything the views of one run (or one loaded trace) draw."""

    trace: Trace  # the pruned run
    source: str  # where it comes from: "run", "recorded example: …", "file …"
    comparison: Comparison | None = None  # None for a bare trace file
    example: Example | None = None
    expected: str = ""  # the known answer: the example's, or typed by the visitor
    scan: np.ndarray | None = None  # (L, prompt_len) importance at every layer at prefill (baseline run)
    notes: tuple[str, ...] = ()  # e.g. what an export left out
    answer_kind: str | None = None
    inputs: dict | None = None  # the run panel's inputs that made it (links.request_record); None: unknown

    @property
    def divergence(self) -> int | None:
        return self.comparison.first_divergence if self.comparison is not None else None

    def nbytes(self) -> int:
        """About how much memory the view holds (its arrays, texts and lists)."""
        arrays = sum(
            a.nbytes
            for s in self.trace.steps
            for a in (
                s.depth,
                s.kv_len,
                s.aux_len,
                *s.scores.values(),
                *s.computed.values(),
                *s.revived.values(),
            )
        )
        texts = sum(len(t) + 50 for t in self.trace.tokens)
        c = self.comparison
        lists = (
            0 if c is None else 80 * (len(c.baseline_tokens) + len(c.lazy_tokens) + 3 * len(c.kl_per_step))
        )
        if c is not None and c.baseline_attention is not None:  # Python floats in lists: ~32 bytes each
            lists += 32 * sum(len(row) for row in c.baseline_attention)
        return arrays + texts + lists + (0 if self.scan is None else self.scan.nbytes)

    def correct(self, baseline: bool = False) -> bool | None:
        """Is the pruned run's (or the baseline's) answer right? None when unknown."""
        if self.comparison is None:
            return None
        text = self.comparison.baseline_text if baseline else self.comparison.lazy_text
        return is_right(text, self.expected, self.answer_kind)

    def verdict(self) -> str | None:
        """The one-line outcome (lazyllm.compare.verdict), with the baseline's correctness when known."""
        if self.comparison is None:
            return None
        line = verdict_line(self.comparison, self.correct())
        base = self.correct(baseline=True)
        if base is not None and self.correct() is not None:
            line = line[:-1] + f" (the baseline's is {'right' if base else 'wrong'})."
        return line


# --- the run worker's events ---------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """A status line: kind "wait" (queued), "info" (loading, starting) or "error"."""

    kind: str
    text: str


@dataclass(frozen=True)
class Progress:
    """One step of one run of a job (prefill = step 0)."""

    run: str  # what runs: "baseline", "LazyLLM", or a strategy's label
    index: int  # which run of the job (0-based) …
    total: int  # … of how many
    step: int
    new_tokens: int
    text: str  # generated so far
    trace: Trace | None = None  # the pruned run's trace so far, for a page to draw (live runs only)
    drawn: threading.Event | None = field(default=None, compare=False)  # set by the page once drawn
    prefill: tuple[int, int] | None = None  # (layers done, layers) while the prefill runs (step 0)

    @property
    def what(self) -> str:
        """ "prefill: layer 12/30" (running), "prefill" (done), or "decode step t/T"."""
        if self.prefill is not None:
            return f"prefill: layer {self.prefill[0]}/{self.prefill[1]}"
        return "prefill" if self.step == 0 else f"decode step {self.step}/{self.new_tokens - 1}"

    @property
    def fraction(self) -> float:
        """How much of the job is done, counting each run's steps (a running prefill by its layers)."""
        steps = self.prefill[0] / self.prefill[1] if self.prefill is not None else self.step + 1
        return (self.index + steps / max(self.new_tokens, 1)) / max(self.total, 1)


@dataclass(frozen=True)
class Finished:
    """A job's result: a RunView (Run) or a TableResult (compare strategies, sweep); a table job also
    posts the table so far after each row (partial=True)."""

    result: object
    seconds: float
    partial: bool = False


@dataclass(frozen=True)
class Stopped:
    """A job ended by Stop: where, and for a Run the pruned run as far as it went (no comparison)."""

    where: str
    view: RunView | None = None


@dataclass(frozen=True)
class Ended:
    """The worker is done (after Finished, Stopped or an error Notice); its slot is free."""


@dataclass
class TableResult:
    """Several configs against one baseline: the live Table 1 or a keep-fraction sweep."""

    kind: str  # "strategies" or "sweep"
    rows: list[dict] = field(default_factory=list)  # one per config, plus the baseline's first
