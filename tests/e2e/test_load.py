"""Several visitors: 8 gradio_client sessions at once against the launched app.

One long "blocker" run holds the only run slot (LAZYLLM_CONCURRENCY=1) while 8 sessions arrive, each
with its own prompt, schedule and strategy: they all queue (LAZYLLM_MAX_QUEUE=8), wait, and each gets
its own result, identical to an in-process `generate` of the same prompt and config; a 10th visitor
finds the queue full and is told the app is busy. The server's peak RSS is measured throughout.
LAZYLLM_LOAD_REPORT=path writes the measured numbers as JSON (docs/robustness.md quotes them).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from pathlib import Path

import psutil
import pytest

from lazyllm import LazyConfig, generate
from tests.support.app_server import MAX_QUEUE, PeakRSS

SESSIONS = 8
NEW_TOKENS = 3
QUESTIONS = [
    "What is 2 plus 3?",
    "Name a fruit that is yellow.",
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What colour is fresh grass?",
    "Which animal says moo?",
    "What is the opposite of hot?",
    "What do bees make?",
]
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
RSS_BOUND = 3 * 2**30


def blocker_prompt(fillers: int) -> str:
    """A long prompt: seconds of work that hold the run slot (22 fillers are ~500 tokens)."""
    return "Read this text.\n" + FILLER * fillers + "\nWhat colour is the sky?"


def session(i: int) -> dict:
    return dict(
        prompt=f"Session {i}. {QUESTIONS[i]} Answer briefly.",
        preset="default",
        schedule=f"{2 + i}:0.6, {16 + i}:0.5",
        strategy=("lazy", "static", "random")[i % 3],
        max_new_tokens=NEW_TOKENS,
    )


def wait_until(cond, timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s} s")
        time.sleep(poll_s)


def fill_the_queue(clients, fillers: int):
    """A blocker takes the run slot, then the 8 sessions queue behind it, then one more visitor comes.
    Returns (whether the blocker still ran when the last visitor came, blocker, sessions, intruder,
    completion times)."""
    from gradio_client.utils import Status

    done_at: dict[str, float] = {}

    def stamp(name):
        return lambda _job: done_at.setdefault(name, time.monotonic())

    blocker = clients[0].submit(prompt=blocker_prompt(fillers), max_new_tokens=8, api_name="/run")
    blocker.add_done_callback(stamp("blocker"))
    wait_until(lambda: blocker.status().code == Status.PROCESSING, 30, "the blocker did not start")
    time.sleep(0.2)  # it holds the run slot
    jobs = []
    for i in range(SESSIONS):
        job = clients[1 + i].submit(**session(i), api_name="/run")
        job.add_done_callback(stamp(f"s{i}"))
        jobs.append(job)
    wait_until(
        lambda: all(j.status().code == Status.PROCESSING for j in jobs), 30, "the sessions did not all arrive"
    )
    time.sleep(0.3)  # all 8 are inside the app, waiting for the slot
    full = not blocker.done()
    intruder = clients[-1].submit(**session(0), api_name="/run")
    return full, blocker, jobs, intruder, done_at


@pytest.mark.slow
def test_eight_sessions_at_once_each_get_their_own_result(shared_server, embedded_lm):
    """On the shared server (tests/e2e/conftest.py): LAZYLLM_CONCURRENCY=1, LAZYLLM_MAX_QUEUE=8."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    assert MAX_QUEUE == SESSIONS  # every session can wait; one more visitor cannot
    t_start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # each Client fetches the app's config
        clients = list(pool.map(lambda _: Client(shared_server.url, verbose=False), range(SESSIONS + 2)))
    rss = PeakRSS(shared_server.pid)  # from before the model loads (if it is not loaded yet) to the end
    warm = clients[0].submit(**session(0), api_name="/run").result(timeout=180)
    rss_loaded = psutil.Process(shared_server.pid).memory_info().rss
    # The same prompts and configs in this process: the reference results. Computed while the server
    # is idle: two processes running torch at once on few cores slow each other down many times over.
    t_refs = time.monotonic()
    refs = []
    for i in range(SESSIONS):
        s = session(i)
        cfg = LazyConfig.from_user(
            preset=s["preset"], schedule=s["schedule"], strategy=s["strategy"], num_layers=30
        )
        refs.append((cfg, generate(embedded_lm, s["prompt"], cfg, max_new_tokens=NEW_TOKENS, seed=0)))
    t_refs = time.monotonic() - t_refs

    for fillers in (22, 88, 264):  # ~500, ~2000, ~6000 tokens: a longer blocker on a faster machine
        t_submit = time.monotonic()
        full, blocker, jobs, intruder, done_at = fill_the_queue(clients, fillers)
        if full:
            break
        concurrent.futures.wait([blocker, intruder, *jobs], timeout=300)  # drain, then try again
    else:
        pytest.fail("the blocker always ended before the queue filled up")
    with pytest.raises(AppError, match="busy"):
        intruder.result(timeout=30)
    outs = [job.result(timeout=300) for job in jobs]  # queued runs wait instead of failing
    blocked = blocker.result(timeout=300)
    t_all = time.monotonic() - t_submit
    peak = rss.stop()

    assert blocked["prompt_tokens"] > 400 and blocked["lazy_new_tokens"] >= 1
    assert warm["lazy_text"] == outs[0]["lazy_text"]  # the same request alone and under load
    for i, (out, (cfg, ref)) in enumerate(zip(outs, refs, strict=True)):
        assert out["prompt_tokens"] == len(ref.prompt_ids), f"session {i}: someone else's prompt"
        assert out["config"]["describe"] == cfg.describe(), (
            f"session {i}: someone else's schedule or strategy"
        )
        assert out["config"]["strategy"] == session(i)["strategy"]
        assert out["config"]["schedule"] == [list(p) for p in cfg.schedule]
        assert out["lazy_text"] == ref.text, f"session {i}: {out['lazy_text']!r} != {ref.text!r}"
        assert out["compute_fraction"] == pytest.approx(ref.stats.prompt_compute_fraction, abs=1e-9)
        assert done_at[f"s{i}"] > done_at["blocker"], f"session {i} did not wait for the slot"
    assert len({o["config"]["describe"] for o in outs}) == SESSIONS
    assert shared_server.alive()
    report = {
        "sessions_at_once": SESSIONS + 1,  # the 8 sessions and the blocker
        "refused_busy": 1,
        "served": len(outs),
        "blocker_prompt_tokens": blocked["prompt_tokens"],
        "blocker_run_seconds": round(blocked["lazy_total_s"] + blocked["baseline_total_s"], 1),
        "seconds_until_all_served": round(t_all, 1),
        "seconds_test": round(time.monotonic() - t_start, 1),
        "seconds_in_process_references": round(t_refs, 1),
        "session_run_seconds": [round(o["lazy_total_s"] + o["baseline_total_s"], 2) for o in outs],
        "rss_mib_model_loaded": round(rss_loaded / 2**20),
        "rss_mib_peak": round(peak / 2**20),
    }
    print(f"\nload: {json.dumps(report)}")
    if os.environ.get("LAZYLLM_LOAD_REPORT"):
        Path(os.environ["LAZYLLM_LOAD_REPORT"]).write_text(json.dumps(report, indent=1))
    assert peak < RSS_BOUND, f"peak RSS {peak / 2**20:.0f} MiB"
    assert peak - rss_loaded < 1 * 2**30, "memory grew by over 1 GiB during the load"
