"""Memory that only grows: 60 page loads and 6 runs against the launched app (tests/e2e/conftest.py,
also used by test_app_client.py and test_browser.py), which keeps the state of at most 8 sessions
(LAZYLLM_SESSIONS=8), so most loads go past that capacity. Everything is measured from the soak's own
start: RSS growth after its first 20 loads, and the files its runs add to Gradio's cache.

A page load does to the server what a browser does: GET the page and /config, then fire events in a
new session, so Gradio creates that session's state: the visitor picks an example, every 5th also
turns the walkthrough's page, every 10th also moves the step slider. The runs are the UI's Run event
(each exports its trace), with short prompts and 1 new token (four prompts in turn, as visitors run
the same examples: the baseline cache serves them). The first run (it loads the model if no test
before did) comes before the first 20 loads, so the baseline is the server as it serves; then the
other runs go one after another while 40 more pages load, three at a time.
RSS after everything must be within 150 MB of RSS after the first 20 loads, and the export folder
(Gradio's cache, GRADIO_TEMP_DIR/lazyllm-exports) holds one file per run, written once, nothing else
copied. LAZYLLM_SOAK_REPORT=path writes the measured numbers as JSON.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from tests.support.app_server import SESSIONS, PeakRSS
from tests.support.gradio_events import call_event, event_id, said, ui_run

pytestmark = pytest.mark.slow

LOADS, RUNS = 60, 6
AT_ONCE = 3  # pages loading at the same time
BOUND = 150 * 2**20
PROMPTS = [f"Visitor {i} asks: what colour is the sky on a clear day? One word." for i in range(4)]


def test_the_launched_app_keeps_fewer_sessions_than_the_soak_loads():
    assert SESSIONS * 5 < LOADS


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as r:
        assert r.status == 200
        return len(r.read())


class Visitor:
    """What one browser does to the server."""

    def __init__(self, url: str):
        self.url = url
        self.next = event_id(url, "lz-next", "click")
        self.example = event_id(url, "lz-example", "input")
        config = json.loads(urllib.request.urlopen(url + "config", timeout=60).read())
        dropdown = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "lz-example")
        self.examples = [
            v for _, v in dropdown["props"]["choices"] if v != "custom"
        ]  # custom: see test_hostile_requests
        self.step = event_id(url, "lz-step", "release")
        self.run_fn = event_id(url, "lz-run", "click")

    def load(self, i: int) -> None:
        session = uuid.uuid4().hex
        assert get(self.url) > 10_000 and get(self.url + "config") > 10_000
        events = [(self.example, [self.examples[i % len(self.examples)], "", "importance"])]
        if i % 5 == 0:
            events.append((self.next, [None, None]))
        if i % 10 == 0:
            events.append((self.step, [None, 1, "", "importance"]))
        for fn, data in events:
            msg = call_event(self.url, fn, data, session=session)
            answer = said(msg)  # an example says it shows its recorded run; nothing else says anything
            assert msg["success"] and (not answer or answer.startswith("Loaded the recorded")), answer

    def run(self, i: int) -> str:
        msg = call_event(self.url, self.run_fn, ui_run(PROMPTS[i % len(PROMPTS)], max_new=1), timeout_s=300)
        assert said(msg).startswith("Done in"), said(msg)
        return next(v["path"] for v in msg["output"]["data"] if isinstance(v, dict) and v.get("path"))


def test_page_loads_past_the_session_capacity_and_runs_keep_memory_and_exports_bounded(launched_app):
    url, pid = launched_app.url, launched_app.pid
    cache = launched_app.gradio_cache
    before = {p for p in cache.rglob("*") if p.is_file()}  # what the tests before the soak left
    proc = psutil.Process(pid)
    visitor = Visitor(url)
    t0 = time.monotonic()
    rss = PeakRSS(pid, every_s=0.2)
    exports = [visitor.run(0)]  # loads the model, if no test before did
    rss_model = proc.memory_info().rss
    samples: list[tuple[float, int]] = []
    with ThreadPoolExecutor(AT_ONCE + 1) as pool:  # the pages, and the runs one after another
        list(pool.map(visitor.load, range(20)))
        rss_20 = proc.memory_info().rss
        runs = pool.submit(lambda: [visitor.run(i) for i in range(1, RUNS)])
        loads = [pool.submit(visitor.load, i) for i in range(20, LOADS)]
        while not all(f.done() for f in (runs, *loads)):
            samples.append((time.monotonic() - t0, proc.memory_info().rss))
            time.sleep(2)
        for f in loads:
            f.result()
        exports += runs.result()
    rss_end = proc.memory_info().rss
    peak = rss.stop()
    seconds = time.monotonic() - t0

    folder = (cache / "lazyllm-exports").resolve()
    files = sorted(set(folder.glob("trace-*.json")) - before)
    everywhere = sorted({p for p in cache.rglob("*") if p.is_file()} - before)
    report = {
        "page_loads": LOADS,
        "runs": len(exports),
        "seconds": round(seconds, 1),
        "rss_mib_model_loaded": round(rss_model / 2**20),
        "rss_mib_after_20_loads": round(rss_20 / 2**20),
        "rss_mib_end": round(rss_end / 2**20),
        "rss_mib_peak": round(peak / 2**20),
        "rss_mib_growth": round((rss_end - rss_20) / 2**20, 1),
        "rss_mib_every_2_s": [round(m / 2**20) for _, m in samples],
        "export_files": len(files),
        "files_in_gradio_cache": len(everywhere),
        "gradio_cache_mib": round(sum(p.stat().st_size for p in everywhere) / 2**20, 2),
    }
    print(f"\nsoak: {json.dumps(report)}")
    if os.environ.get("LAZYLLM_SOAK_REPORT"):
        Path(os.environ["LAZYLLM_SOAK_REPORT"]).write_text(json.dumps(report, indent=1))

    assert proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    assert rss_end - rss_20 < BOUND, f"RSS grew {(rss_end - rss_20) / 2**20:.0f} MB after the first 20 loads"
    assert len(set(exports)) == RUNS and all(Path(p).resolve().parent == folder for p in exports)
    assert [p.name for p in files] == sorted(Path(p).name for p in exports)  # one file per run
    from app.tracefiles import EXPORTS_KEPT

    assert len(list(folder.glob("trace-*.json"))) <= EXPORTS_KEPT
    copies = [p for p in everywhere if p.suffix == ".json" and p.parent != folder]
    assert not copies, f"exports copied again: {copies[:3]}"
    assert len(everywhere) <= RUNS + 8, [str(p.relative_to(cache)) for p in everywhere][:40]
