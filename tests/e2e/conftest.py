"""The launched servers and their clients, started once per test session (tests/support/app_server.py).

`make test` distributes by file (``--dist loadfile``), so a worker that runs several files of one
server starts it once; two workers may each start their own.
"""

from __future__ import annotations

import pytest

from tests.support.app_server import AppServer, launched_app_server, shared_app_server
from tests.support.browser import ARGS, CHROMIUM


@pytest.fixture(scope="session")
def launched_app() -> AppServer:
    """`python app.py` with the default limits but 16 new tokens and 8 sessions (test_app_client.py,
    test_browser.py, test_soak.py)."""
    server = launched_app_server()
    yield server.start(timeout_s=120)
    server.stop()


@pytest.fixture(scope="session")
def app_client(launched_app):
    from gradio_client import Client

    return Client(launched_app.url, verbose=False)


@pytest.fixture(scope="session")
def shared_server() -> AppServer:
    """One server for the files that attack the app (test_robustness_app.py, test_hostile_requests.py,
    test_request_memory.py, test_load.py): one run at a time, short runs, a small view store."""
    server = shared_app_server()
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def shared_client(shared_server):
    from gradio_client import Client

    return Client(shared_server.url, verbose=False)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One chromium per test worker (tests/support/browser.py drives it), at idle CPU priority (SCHED_IDLE: chromium re-nices its own children, not this): a
    visitor's browser draws on their own machine, so here, where it shares two cores with the server,
    its drawing must not slow the runs whose timings the page shows (tests/e2e/test_browser_timing.py)."""
    from playwright.sync_api import sync_playwright

    idle = tmp_path_factory.mktemp("chromium") / "chromium"
    idle.write_text(f'#!/bin/sh\nexec chrt --idle 0 {CHROMIUM} "$@"\n')
    idle.chmod(0o755)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(idle), args=ARGS)
        yield b
        b.close()
