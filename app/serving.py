"""Serving limits for a public deployment: one shared model, a run gate with a queue, an allowlist.

Environment variables:
    LAZYLLM_MAX_PROMPT_TOKENS   longest prompt accepted, in tokens (default 4096)
    LAZYLLM_MAX_NEW_TOKENS      most new tokens per run (default 128)
    LAZYLLM_CONCURRENCY         runs at once (default 1)
    LAZYLLM_MAX_QUEUE           runs allowed to wait for a slot before "busy" (default 8)
    LAZYLLM_ALLOWED_MODELS      comma-separated model names offered besides the embedded one
    LAZYLLM_VIEW_MEMORY_MB      memory for the runs and traces sessions explore, all together (default 256)
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import lazyllm
from lazyllm.model import GEMMA_NAME, GEMMA_PACKAGE, package_folder

log = logging.getLogger("lazyllm.app")

EMBEDDED = "SmolLM2-135M-Instruct (embedded)"
DEFAULT_ALLOWED = ("HuggingFaceTB/SmolLM2-360M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct")


def _env_int(name: str, default: int, lo: int = 1) -> int:
    try:
        return max(lo, int(os.environ.get(name, default)))
    except ValueError:
        log.warning("ignoring %s=%r: not an integer", name, os.environ.get(name))
        return default


@dataclass(frozen=True)
class Limits:
    max_prompt_tokens: int = 4096
    max_new_tokens: int = 128
    concurrency: int = 1
    max_queue: int = 8
    allowed_models: tuple[str, ...] = DEFAULT_ALLOWED
    view_memory_mb: int = 256

    @property
    def default_new_tokens(self) -> int:
        """The token count a page (or a link without one) starts from."""
        return min(24, self.max_new_tokens)

    @property
    def max_prompt_chars(self) -> int:
        """The prompt's length in characters checked before any tokenizing (~12 per token at most)."""
        return self.max_prompt_tokens * 12

    @classmethod
    def from_env(cls) -> Limits:
        allowed = os.environ.get("LAZYLLM_ALLOWED_MODELS")
        models = (
            DEFAULT_ALLOWED if allowed is None else tuple(m.strip() for m in allowed.split(",") if m.strip())
        )
        return cls(
            max_prompt_tokens=_env_int("LAZYLLM_MAX_PROMPT_TOKENS", 4096),
            max_new_tokens=_env_int("LAZYLLM_MAX_NEW_TOKENS", 128),
            concurrency=_env_int("LAZYLLM_CONCURRENCY", 1),
            max_queue=_env_int("LAZYLLM_MAX_QUEUE", 8, lo=0),
            allowed_models=models,
            view_memory_mb=_env_int("LAZYLLM_VIEW_MEMORY_MB", 256),
        )

    def model_choices(self) -> list[str]:
        """The embedded model, Gemma 3 270M where its optional packages are installed, the allowlist."""
        optional = [GEMMA_NAME] if package_folder(GEMMA_PACKAGE) is not None else []
        return [EMBEDDED, *optional, *[m for m in self.allowed_models if m not in (EMBEDDED, *optional)]]

    def budget(self):
        """What an uploaded trace may cost (app.tracefiles.Budget), from these limits."""
        from app.tracefiles import Budget

        return Budget(max_prompt_tokens=max(self.max_prompt_tokens, 4096))


def release_memory() -> None:
    """Give freed heap memory back to the OS (glibc's malloc_trim; elsewhere nothing).

    A trace file or a run allocates and frees hundreds of MB in one of the server's many worker
    threads; glibc keeps what a thread freed in that thread's arena, so without a trim every thread
    that once loaded a large trace would hold its peak for good."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
        except OSError:
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


class ScanCache:
    """The layer scans of the last few prompts, keyed by (model, prompt): a run that changes only the
    schedule, the strategy or the token count reuses its prompt's scan. (The baseline itself is run in
    every job: its seconds are timed next to the runs they are compared with.) Small and bounded."""

    def __init__(self, size: int = 4):
        self.size = size
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: tuple, result) -> None:
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class Busy(Exception):
    """Too many runs are waiting."""


class RunGate:
    """At most `concurrency` runs at once; at most `max_queue` waiting; beyond that, Busy."""

    def __init__(self, concurrency: int, max_queue: int):
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self.max_queue = max_queue
        self.waiting = 0

    def try_enter(self) -> bool:
        """Take a slot now if one is free (without queueing)."""
        return self._slots.acquire(blocking=False)

    def enter(self, on_wait=None, cancelled=None, poll_s: float = 0.25) -> bool:
        """Block until a slot is held (True) or `cancelled()` (False); Busy if too many already wait.

        on_wait(n) is called while queued, with the number of runs waiting.
        """
        with self._lock:
            if self.waiting >= self.max_queue:
                raise Busy(
                    f"The explorer is busy: {self.waiting} runs are already waiting. "
                    "Please try again in a minute."
                )
            self.waiting += 1
        try:
            while not self._slots.acquire(timeout=poll_s):
                if cancelled is not None and cancelled():
                    return False
                if on_wait is not None:
                    on_wait(self.waiting)
            return True
        finally:
            with self._lock:
                self.waiting -= 1

    def leave(self) -> None:
        self._slots.release()


class ModelHub:
    """One loaded model per process, shared by all sessions; loading is guarded by a lock."""

    def __init__(self, limits: Limits, loader=None):
        self.limits = limits
        self._loader = loader
        self._lock = threading.Lock()
        self.lm = None
        self.name: str | None = None

    def get(self, name: str | None):
        name = name or EMBEDDED
        if name not in self.limits.model_choices():
            raise ValueError(
                f"model {name!r} is not in this deployment's allowlist: {', '.join(self.limits.model_choices())}"
            )
        with self._lock:
            if self.lm is not None and self.name == name:
                return self.lm
            loader = self._loader or lazyllm.load_model
            try:
                lm = loader(None if name == EMBEDDED else name)
            except Exception as e:  # keep the previous model in service
                log.exception("model %s failed to load", name)
                kept = f" The model {self.name!r} stays loaded." if self.lm is not None else ""
                raise ValueError(f"could not load model {name!r}: {e}.{kept}") from e
            if self._loader is None:
                _warm_up(lm)
            self.lm, self.name = lm, name
            return lm


def _warm_up(lm) -> None:
    """One tiny generation so the first timed run does not pay one-off costs (allocations, kernels)."""
    try:
        lazyllm.generate(lm, "Hello", max_new_tokens=2)
    except Exception:  # only an optimisation
        log.exception("warm-up failed")


class ViewStore:
    """The views sessions are exploring, by key, within a memory budget: a session's gr.State holds only
    its key, so what the server holds does not grow with the number of sessions. The least recently
    used views go first; a session whose view went gets a message saying so."""

    def __init__(self, budget_bytes: int = 256 * 2**20):
        self.budget = budget_bytes
        self._views: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, view, key: str | None = None) -> str:
        """Keep `view` (under `key`, replacing what it held) and return its key."""
        import uuid

        key = key or uuid.uuid4().hex
        size = view.nbytes()
        with self._lock:
            self._views.pop(key, None)
            self._views[key] = (view, size)
            while len(self._views) > 1 and sum(n for _, n in self._views.values()) > self.budget:
                self._views.popitem(last=False)
        return key

    def get(self, key: str):
        with self._lock:
            if key not in self._views:
                return None
            self._views.move_to_end(key)
            return self._views[key][0]

    @property
    def held_bytes(self) -> int:
        with self._lock:
            return sum(n for _, n in self._views.values())


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413 before Gradio reads it (file
    uploads excepted; they have their own limit). Gradio keeps the input values of every session, so
    an uncapped body would stay in memory for as long as the session does."""

    def __init__(self, app, limit: int = 512 * 1024):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path", "").rstrip("/").endswith("/upload"):
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge()
            return msg

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await self._refuse(receive, send)

    async def _refuse(self, receive, send):
        """Read the rest of the body without keeping it (so the client sees the answer), then 413."""
        more = True
        while more:
            msg = await receive()
            more = msg.get("type") == "http.request" and msg.get("more_body", False)
        text = f"request body too large (limit {self.limit // 1024} KB)".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": text})


class BodyTooLarge(Exception):
    """A chunked request body went over BodyLimit's limit."""
