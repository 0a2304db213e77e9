"""`python app.py` launched on 127.0.0.1 and a free port for the end-to-end tests, and a process's peak RSS.

tests/e2e/conftest.py starts two servers, once per test session (per xdist worker that needs them):

- the launched app (``launched_app``): the app's default limits but 16 new tokens and 8 sessions, in a
  Gradio cache folder of its own; tests/e2e/test_app_client.py, test_browser.py and test_soak.py;
- the shared server (``shared_server``): the limits below; the files that attack the app
  (test_robustness_app.py, test_hostile_requests.py, test_request_memory.py, test_load.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The launched app's limits.
LAUNCHED_MAX_NEW = 16  # LAZYLLM_MAX_NEW_TOKENS
SESSIONS = 8  # LAZYLLM_SESSIONS: the soak (tests/e2e/test_soak.py) loads pages well past it

# The shared server's limits.
MAX_NEW = 8  # LAZYLLM_MAX_NEW_TOKENS
MAX_PROMPT = 9000  # LAZYLLM_MAX_PROMPT_TOKENS: above the model's 8192 context, so the runtime's check shows
MAX_QUEUE = 8  # LAZYLLM_MAX_QUEUE: runs that may wait for the one run slot (LAZYLLM_CONCURRENCY=1)
VIEW_MEMORY_MB = 64  # LAZYLLM_VIEW_MEMORY_MB: the views all sessions explore, together


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`python app.py` on 127.0.0.1 and a free port, with extra environment; stopped by pid.

    gradio_cache: give the server a GRADIO_TEMP_DIR of its own (``self.gradio_cache``), removed at stop.
    """

    def __init__(self, gradio_cache: bool = False, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.hf_home = Path(tempfile.mkdtemp(prefix="lazyllm-hf-"))
        self.gradio_cache = (
            Path(tempfile.mkdtemp(prefix="lazyllm-gradio-")).resolve() if gradio_cache else None
        )
        limits = ("LAZYLLM_ALLOWED_MODELS", "LAZYLLM_CONCURRENCY", "LAZYLLM_GRADIO_QUEUE", "LAZYLLM_MAX_")
        self.env = {  # the app's defaults unless given here, whatever this shell has set
            **{k: v for k, v in os.environ.items() if not k.startswith(limits)},
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "HF_HOME": str(self.hf_home),  # an empty hub cache: shows whether anything was fetched
            **({"GRADIO_TEMP_DIR": str(self.gradio_cache)} if self.gradio_cache else {}),
            **env,
        }
        self.log = tempfile.NamedTemporaryFile("w+", prefix="lazyllm-app-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def start(self, timeout_s: float = 150.0) -> AppServer:
        self.proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"app.py did not start within {timeout_s:.0f} s: {self.log_text()[-2000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
        shutil.rmtree(self.hf_home, ignore_errors=True)
        if self.gradio_cache is not None:
            shutil.rmtree(self.gradio_cache, ignore_errors=True)


def launched_app_server() -> AppServer:
    """The launched app (not started): default limits but 16 new tokens, 8 sessions, its own Gradio cache."""
    return AppServer(
        gradio_cache=True,
        LAZYLLM_MAX_NEW_TOKENS=str(LAUNCHED_MAX_NEW),
        LAZYLLM_MAX_QUEUE="8",
        LAZYLLM_SESSIONS=str(SESSIONS),
    )


def shared_app_server() -> AppServer:
    """The server the attacking files share (not started): one run at a time, the limits above."""
    return AppServer(
        LAZYLLM_MAX_NEW_TOKENS=str(MAX_NEW),
        LAZYLLM_MAX_PROMPT_TOKENS=str(MAX_PROMPT),
        LAZYLLM_CONCURRENCY="1",
        LAZYLLM_MAX_QUEUE=str(MAX_QUEUE),
        LAZYLLM_VIEW_MEMORY_MB=str(VIEW_MEMORY_MB),
    )


class PeakRSS:
    """Samples a process's resident memory every `every_s` seconds until stopped."""

    def __init__(self, pid: int, every_s: float = 0.05):
        import psutil

        self.proc, self.every_s = psutil.Process(pid), every_s
        self.peak = self.start_rss = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        import psutil

        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(self.every_s)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak
