"""The app's process-wide state and its jobs: one Run, the live Table 1 (strategies), the sweep.

A job is a generator of events (app.state): it loads the shared model, builds the config through
`LazyConfig.from_user`, and runs `lazyllm.compare.compare_stream` (the pruned run, the baseline, the
teacher-forced twin where their texts diverged), ending with `Finished`. Every speed number is the
method's: the baseline is run (and timed) in every job, next to the pruned runs it is compared with;
only the layer scan of a prompt is kept between jobs (ScanCache). While a page draws a live view of the
pruned run, the run waits (`Progress.drawn`): no step is timed while the views are built.

A `RunWorker` thread runs one job holding a slot of the run gate, so an abandoned page can never keep
the slot; Stop ends the job after its current step. The `/run` API runs the same job in the caller's
thread.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import lazyllm
from app.inputs import RunRequest, check_prompt
from app.links import request_record
from app.serving import Busy, Limits, ModelHub, RunGate, ScanCache, ViewStore, release_memory
from app.state import (
    Ended,
    Example,
    Finished,
    Notice,
    Progress,
    RunView,
    Stopped,
    TableResult,
    answer_kind,
    is_right,
)
from app.tracefiles import load_trace_file
from lazyllm import LazyConfig
from lazyllm.compare import compare_stream
from lazyllm.config import PRESETS

log = logging.getLogger("lazyllm.app")

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SWEEP_KEEPS = (0.1, 0.2, 0.3, 0.5, 0.7)  # keep fractions of the per-prompt sweep
START_EXAMPLE = "Pass-key retrieval"  # the recorded example on screen when the page opens
LIVE_EVERY_S = 1.5  # a page that draws the run gets its trace at prefill, then at most this often
DRAW_WAIT_S = 30.0  # the longest a run waits for a page to draw it (a page that went away: less)
PREFILL_EVERY_S = 0.25  # a running prefill's layer count goes to the page at most this often


@dataclass
class Context:
    """What a job sees: the app, its Stop flag, the last step it reported (for "stopped after"), and
    whether a page draws the pruned run while it runs (`live`: a Run in the browser)."""

    app: App
    stop: threading.Event = field(default_factory=threading.Event)
    last: Progress | None = None
    live: bool = False
    partial: lazyllm.GenerationResult | None = None  # a stopped comparison's pruned run, as far as it went
    post: Callable[[object], None] | None = None  # posts an event to the page at once (a RunWorker's queue)

    def prefill_hook(self, runs: list[str], first: int, total: int, new_tokens: int):
        """generate's on_prefill_layer for a job's runs `runs` (numbered from `first`, in the order they
        prefill): a Progress "prefill: layer l/L" goes to the page after a prefill's first layer, then at
        most every PREFILL_EVERY_S (each wakes the page's thread while the run is timed; None: no page)."""
        if self.post is None:
            return None
        run, posted = -1, 0.0

        def report(done: int, layers: int) -> None:
            nonlocal run, posted
            run += done == 1  # layer 1 again: the next run's prefill
            now = time.monotonic()
            if done > 1 and now - posted < PREFILL_EVERY_S:
                return
            posted = now
            i = min(run, len(runs) - 1)
            self.post(Progress(runs[i], first + i, total, 0, new_tokens, "", prefill=(done, layers)))

        return report

    def stopped(self) -> Stopped:
        """Where the job stopped; for a Run, the view of what its pruned run computed by then."""
        p = self.last
        where = "starting" if p is None else f"{p.run} step {p.step}"
        trace = self.partial.trace if self.partial is not None else None
        view = None if trace is None or not trace.steps else RunView(trace, f"stopped at {where}")
        return Stopped(where, view)

    def wait_drawn(self, drawn: threading.Event) -> None:
        """Hold the run until the page has drawn what it was sent (or Stop, or DRAW_WAIT_S)."""
        deadline = time.monotonic() + DRAW_WAIT_S
        while not drawn.wait(0.1) and not self.stop.is_set() and time.monotonic() < deadline:
            pass


def _compare(
    ctx: Context,
    lm,
    req: RunRequest,
    cfg: LazyConfig,
    label: str,
    first: int,
    total: int,
    scan: bool = False,
    base=None,
    instrument: bool = True,
):
    """One compare_stream, a Progress per step (runs numbered from `first`, of `total`); its result
    (baseline, pruned run, Comparison), or None when stopped. In a live job the pruned run's trace goes
    to the page at prefill and then every LIVE_EVERY_S, and the run waits while the page draws it.
    instrument: the pruned run records its trace (a Run's views need it; a table row does not)."""
    drawn_at = 0.0
    updates = compare_stream(
        lm,
        req.prompt,
        cfg,
        max_new_tokens=req.new_tokens,
        instrument=instrument,
        scan=scan,
        base=base,
        should_stop=ctx.stop.is_set,
        label=label,
        on_prefill_layer=ctx.prefill_hook([label, "baseline"], first, total, req.new_tokens),
    )
    for u in updates:
        if u.done:
            ctx.partial = u.pruned if u.result is None else None
            return u.result
        up, trace, drawn = u.update, None, None
        due = up.step == 0 or time.monotonic() - drawn_at >= LIVE_EVERY_S
        if ctx.live and up.trace is not None and due and not up.done:
            # the trace keeps growing in this thread: the page gets a consistent copy of it so far
            trace = replace(up.trace, steps=list(up.trace.steps), tokens=list(up.trace.tokens))
            drawn = threading.Event()
        ctx.last = Progress(u.run, first + u.index, total, up.step, req.new_tokens, up.text, trace, drawn)
        yield ctx.last
        if drawn is not None:
            ctx.wait_drawn(drawn)
            drawn_at = time.monotonic()
    return None


def _model(ctx: Context, req: RunRequest):
    hub = ctx.app.hub
    yield Notice("info", "Loading the model (first run only)…" if hub.lm is None else "Starting…")
    lm = hub.get(req.model)
    check_prompt(req.prompt, ctx.app.limits, lm.tokenizer)
    return lm


def run_job(ctx: Context, req: RunRequest) -> Iterator:
    """Run: the pruned run first (its prefill views show at once), the baseline, the forced twin."""
    t0 = time.perf_counter()
    lm = yield from _model(ctx, req)
    cfg = req.config(lm.num_layers, lm.layer_types)
    key = (lm.name, req.prompt)
    scan = ctx.app.scans.get(key)  # the layer scan: a pure function of the prompt's prefill
    result = yield from _compare(ctx, lm, req, cfg, "LazyLLM", 0, 3, scan=scan is None)
    if result is None:
        yield ctx.stopped()
        return
    base, free, comparison = result
    if scan is None:
        scan = base.scan
        ctx.app.scans.put(key, scan)
    example, expected = ctx.app.known_answer(req)
    kind = example.kind if example is not None and expected == example.answer else answer_kind(expected)
    inputs = request_record(req)
    view = RunView(free.trace, "run", comparison, example, expected, scan, answer_kind=kind, inputs=inputs)
    yield Finished(view, time.perf_counter() - t0)


def table_configs(
    req: RunRequest, kind: str, num_layers: int, layer_types=None
) -> list[tuple[str, LazyConfig]]:
    """(label, config) of each row: the live Table 1 (lazy, static, random at the visitor's schedule:
    the same budget), or the sweep (the schedule's layers at each of SWEEP_KEEPS and at the schedule's
    own keep fraction; a schedule of mixed fractions is a row of its own). A visitor's config that
    prunes nothing stands for the default preset's schedule."""

    def config(**overrides) -> LazyConfig:
        return req.config(num_layers, layer_types, **overrides)

    default = LazyConfig.preset("default", num_layers=num_layers, layer_types=layer_types)
    schedule = config().schedule or default.schedule
    if kind == "strategies":
        return [(s, config(schedule=schedule, strategy=s)) for s in lazyllm.STRATEGIES]
    own = {k for _, k in schedule}
    keeps = sorted(set(SWEEP_KEEPS) | own) if len(own) == 1 else list(SWEEP_KEEPS)
    rows = [(f"keep {k:g}", config(schedule=[(layer, k) for layer, _ in schedule])) for k in keeps]
    if len(own) > 1:
        rows.append(("your schedule", config(schedule=schedule)))
    return rows


def table_job(ctx: Context, req: RunRequest, kind: str) -> Iterator:
    """Several configs against one baseline, run (and timed) first: a row each, with its teacher-forced
    fidelity; the table so far is posted after every row (`Finished(..., partial=True)`)."""
    t0 = time.perf_counter()
    lm = yield from _model(ctx, req)
    configs = table_configs(req, kind, lm.num_layers, lm.layer_types)
    total = 2 * len(configs) + 1
    base = yield from _baseline(ctx, lm, req, total)
    if base is None:
        yield ctx.stopped()
        return
    example, expected = ctx.app.known_answer(req)
    base_correct = is_right(base.text, expected)
    result = TableResult(kind, [table_row("baseline", None, base_correct, text=base.text)])
    for i, (label, cfg) in enumerate(configs):
        done = yield from _compare(ctx, lm, req, cfg, label, 2 * i + 1, total, base=base, instrument=False)
        if done is None:
            yield ctx.stopped()
            return
        _, free, c = done
        result.rows.append(table_row(label, c, is_right(free.text, expected), base_correct))
        if i < len(configs) - 1:
            yield Finished(replace(result, rows=list(result.rows)), time.perf_counter() - t0, partial=True)
    yield Finished(result, time.perf_counter() - t0)


def _baseline(ctx: Context, lm, req: RunRequest, total: int):
    """The table's baseline: a plain run with logits, timed (its Progress is run 0 of `total`)."""
    updates = lazyllm.generate_stream(
        lm,
        req.prompt,
        max_new_tokens=req.new_tokens,
        return_logits=True,
        should_stop=ctx.stop.is_set,
        on_prefill_layer=ctx.prefill_hook(["baseline"], 0, total, req.new_tokens),
    )
    for up in updates:
        ctx.last = Progress("baseline", 0, total, up.step, req.new_tokens, up.text)
        yield ctx.last
        if up.done:
            return None if up.result.stopped == "cancelled" else up.result
    return None


def table_row(label: str, c, correct: bool | None, base_correct: bool | None = None, text: str = "") -> dict:
    """One row of the live Table 1 / the sweep; `kept`: the answer is right (if known) or unchanged;
    `text`: what the run generated (the baseline's is given, a pruned run's is its comparison's)."""
    if c is None:
        answer = {True: "right", False: "wrong", None: "reference"}[correct]
        return dict(
            label=label,
            config="baseline",
            text=text,
            answer=answer,
            kept=True,
            mean_kl=0.0,
            top1=1.0,
            ttft_speedup=1.0,
            compute_fraction=1.0,
            divergence=None,
        )
    kept = correct if correct is not None else c.same_text
    answer = "same text" if c.same_text else f"diverged at step {c.first_divergence}"
    if correct is not None:
        answer += f"; {'right' if correct else 'wrong'}"
    return dict(
        label=label,
        config=c.config.get("describe", ""),
        text=c.lazy_text,
        answer=answer,
        kept=bool(kept),
        mean_kl=c.mean_kl,
        top1=c.top1_agreement,
        ttft_speedup=c.ttft_speedup,
        compute_fraction=c.compute_fraction,
        divergence=c.first_divergence,
    )


class RunWorker(threading.Thread):
    """One job in its own thread: waits for a gate slot, runs the job, posts its events, frees the slot."""

    def __init__(self, app: App, job: Callable[[Context], Iterator]):
        super().__init__(daemon=True, name="lazyllm-run")
        self.app, self.job = app, job
        self.events: queue.Queue = queue.Queue()
        self.ctx = Context(app, post=self.events.put)

    @property
    def stop(self) -> threading.Event:
        return self.ctx.stop

    def run(self) -> None:
        post = self.events.put
        try:
            waiting = lambda n: post(Notice("wait", f"Queued: {n} run(s) waiting for the model…"))  # noqa: E731
            if not self.app.gate.enter(on_wait=waiting, cancelled=self.stop.is_set):
                post(Stopped("waiting in the queue"))
                return
            try:
                for event in self.job(self.ctx):
                    post(event)
            finally:
                self.app.gate.leave()
        except (ValueError, Busy) as e:  # bad input (ours or the runtime's), or a full queue
            post(Notice("error", str(e)))
        except Exception as e:  # keep serving; say what broke
            log.exception("run failed")
            post(Notice("error", f"The run failed: {type(e).__name__}: {str(e)[:200]}"))
        finally:
            release_memory()
            post(Ended())


class App:
    """The app's process-wide state: limits, the shared model, the run gate, baselines, examples."""

    def __init__(self, limits: Limits | None = None, loader=None):
        self.limits = limits or Limits.from_env()
        self.hub = ModelHub(self.limits, loader)
        self.gate = RunGate(self.limits.concurrency, self.limits.max_queue)
        self.scans = ScanCache(size=8)
        self.views = ViewStore(self.limits.view_memory_mb * 2**20)
        self.examples = load_examples()
        self.recorded = recorded_traces(self.examples)
        self._recorded_views: dict[Path, RunView] = {}
        self._workers: dict[str, RunWorker] = {}  # the running worker of each browser session
        self._lock = threading.Lock()

    def known_answer(self, req: RunRequest) -> tuple[Example | None, str]:
        """The example the prompt is (unedited), and the answer to check for *this* prompt: the one
        given, else the example's. The example's own answer sent with another prompt (still in its field
        when a prompt was pasted over the example) belongs to the example: it judges nothing here.
        The `/run` API names no example: its `expected` is used as given."""
        ex = self.examples.get(req.example) if req.example else None
        if ex is not None and ex.prompt == req.prompt:
            return ex, req.expected or ex.answer
        stale = ex is not None and req.expected == ex.answer
        return None, "" if stale else req.expected

    def recorded_view(self, name: str) -> RunView | None:
        """A recorded example trace, parsed once per process and shared (views never modify it)."""
        path = self.recorded.get(name)
        if path is None:
            return None
        with self._lock:
            if path not in self._recorded_views:
                self._recorded_views[path] = load_trace_file(path, f"recorded example: {name}", self.examples)
            return self._recorded_views[path]

    def default_view(self) -> RunView | None:
        """What the page shows before any run: the recorded START_EXAMPLE (else the first recorded)."""
        return self.recorded_view(self.start_name) if self.recorded else None

    @property
    def start_name(self) -> str | None:
        return START_EXAMPLE if START_EXAMPLE in self.recorded else next(iter(self.recorded), None)

    # -- workers of browser sessions -----------------------------------------------------------

    def start(self, session: str | None, job: Callable[[Context], Iterator], live: bool = False) -> RunWorker:
        """Run `job` in a worker thread; live: a page draws its pruned run as it goes (Context.live)."""
        worker = RunWorker(self, job)
        worker.ctx.live = live
        if session:
            with self._lock:
                self._workers[session] = worker
        worker.start()
        return worker

    def finish(self, session: str | None, worker: RunWorker) -> None:
        worker.stop.set()  # a page that went away: the worker stops at its next step
        with self._lock:
            if session and self._workers.get(session) is worker:
                del self._workers[session]

    def stop(self, session: str | None) -> bool:
        with self._lock:
            worker = self._workers.get(session) if session else None
        if worker is not None:
            worker.stop.set()
        return worker is not None

    # -- the /run API --------------------------------------------------------------------------

    def run_api(
        self,
        prompt: str,
        preset: str = "default",
        schedule: str = "",
        strategy: str = "lazy",
        max_new_tokens: int = 32,
        expected: str = "",
    ) -> dict:
        """Run the baseline and LazyLLM on `prompt`: the comparison (teacher-forced per-step KL and top-1,
        free-running agreement, timings), the verdict and the config that ran.

        preset: baseline | paper | default | fast | question. schedule: "layer:keep, ..."
        (e.g. "9:0.7, 19:0.7"; empty = the preset's). strategy: lazy | static | random. expected: the
        answer, if known (the verdict then says right or wrong).
        """
        req = RunRequest.parse(
            self.limits, prompt, None, preset, schedule, strategy, max_new_tokens, expected
        )
        ctx = Context(self)
        self.gate.enter()
        try:
            finished = [e for e in run_job(ctx, req) if isinstance(e, Finished)]
        finally:
            self.gate.leave()
        view = finished[-1].result
        c = view.comparison
        return {
            **c.to_dict(),
            "verdict": view.verdict(),
            "correct": view.correct(),
            "baseline_correct": view.correct(baseline=True),
            "model": view.trace.model,
        }


def load_examples() -> dict[str, Example]:
    """assets/examples/*.json: {name, task, prompt, answer, answer_span[, kind, preset]}."""
    out = {}
    for path in sorted((ASSETS / "examples").glob("*.json")):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            kind = d.get("kind") or answer_kind(d["answer"])
            preset = d.get("preset", "default")
            if preset not in PRESETS:
                raise ValueError(f"preset {preset!r} is not a preset")
            out[d["name"]] = Example(
                d["name"], d["task"], d["prompt"], d["answer"], d["answer_span"], kind, preset
            )
        except (OSError, ValueError, KeyError):
            log.exception("bad example file %s", path)
    return out


def recorded_traces(examples: dict[str, Example]) -> dict[str, Path]:
    """assets/traces/<n>_<task>.json, named after the example of that task."""
    by_task = {ex.task: name for name, ex in examples.items()}
    out = {}
    for p in sorted((ASSETS / "traces").glob("*.json")):
        task = p.stem.split("_", 1)[-1]
        out[by_task.get(task, task.replace("_", " "))] = p
    return out
