"""Bounded memory: what crafted requests can make the server hold. A
request body over 512 KB is refused before it is read into memory (app.serving.BodyLimit), and the
views sessions explore live in one ViewStore within LAZYLLM_VIEW_MEMORY_MB, whatever the number of
sessions (app.serving.ViewStore). The tests use the shared server of tests/e2e/conftest.py
(LAZYLLM_VIEW_MEMORY_MB=64); each measures RSS growth from its own starting point.
"""

from __future__ import annotations

import re
import time
import urllib.error

import psutil
import pytest

from tests.support.app_server import VIEW_MEMORY_MB
from tests.support.gradio_events import call_event, event_id, said, ui_run, upload
from tests.support.traces import bomb, compact

pytestmark = pytest.mark.slow


def rss(srv) -> int:
    time.sleep(1)
    return psutil.Process(srv.pid).memory_info().rss


def test_oversized_request_bodies_are_not_kept_per_session(shared_server):
    fn = event_id(shared_server.url, "lz-run", "click")
    data = ui_run("x" * (20 * 2**20))
    before = None
    for i in range(8):
        try:
            answer = said(call_event(shared_server.url, fn, data, timeout_s=120))
            assert re.search(r"prompt too long: \d+ characters", answer), answer
        except urllib.error.HTTPError as e:  # refused before it is read into memory
            assert e.code == 413
        if i == 0:
            before = rss(shared_server)  # after the first: what one such request costs once is not the point
    grew = rss(shared_server) - before
    assert shared_server.alive()
    assert grew < 50 * 2**20, f"7 more 20 MB requests left RSS {grew / 2**20:.0f} MB higher"


def test_large_in_budget_traces_are_not_kept_per_session(shared_server):
    fn = event_id(shared_server.url, "lz-upload", "upload")
    data = compact(
        bomb(256, 3800, steps=1025)
    )  # within every budget, under 20 MiB: 18.7 MB, ~4.4M depth cells
    assert len(data) < 20 * 2**20
    before = None
    for i in range(6):
        msg = call_event(
            shared_server.url,
            fn,
            [upload(shared_server.url, "big.json", data), "", "importance"],
            timeout_s=300,
        )
        answer = said(msg)
        assert "Loaded" in answer or re.search(r"trace: .* this explorer draws traces with", answer), answer
        if i == 1:
            before = rss(shared_server)
    grew = rss(shared_server) - before
    assert shared_server.alive()
    # the store holds at most its budget (and the view being drawn): more sessions add nothing more
    assert grew < (VIEW_MEMORY_MB + 50) * 2**20, (
        f"4 more sessions with this trace left RSS {grew / 2**20:.0f} MB higher"
    )
