"""The explorer: `build_demo() -> gr.Blocks` lays out the page (app/layout.py), then wires its events
(app/wiring.py). `launch_kwargs()` and `enable_queue()` are what launching it takes (app.py).

Building does no model work: the first recorded example's views are drawn at build time, the model
loads on the first run.
"""

from __future__ import annotations

import os

import gradio as gr
from starlette.middleware import Middleware

from app import views
from app.callbacks import Callbacks
from app.gradio_compat import explorer_blocks, set_queue_intervals
from app.layout import Components, lay_out
from app.serving import BodyLimit
from app.session import ASSETS, App
from app.texts import TITLE
from app.viewnames import View
from app.wiring import wire

# Gradio's queue looks for new events every 1 ms, and for progress updates every 10 ms, while it is free
# (its Linux intervals): an idle server spends ~9% of a core on it, and during a run those wake-ups take
# the GIL from the model's thread. Gradio's Windows intervals instead: an event starts at most 50 ms later.
QUEUE_POLL_S, PROGRESS_POLL_S = 0.05, 0.1


def build_demo(app: App | None = None) -> gr.Blocks:
    """The whole explorer. `app` holds limits, the model hub and the run gate (default: from env)."""
    app = app or App()
    first = app.default_view()
    start = views.render_all(first, 0, "", "importance") if first else {}
    with explorer_blocks(title=TITLE, delete_cache=(600, 3600)) as demo:
        c = lay_out(app, start)
        check_components(c)
        wire(app, Callbacks(app), c, demo)
    return demo


def check_components(c: Components) -> None:
    """Every View has exactly its component: a View without one fails the build, not a later event."""
    missing = [v.name for v in View if v not in c]
    unnamed = [k for k in c if not isinstance(k, View)]
    if missing or unnamed:
        raise KeyError(f"components without a View: {unnamed}; Views without a component: {missing}")


def explorer_js() -> str | None:
    """assets/explorer.js (a click on the fidelity chart opens that step), read when launching."""
    path = ASSETS / "explorer.js"
    return path.read_text(encoding="utf-8") if path.exists() else None


def launch_kwargs() -> dict:
    """Theme, CSS, JS and the memory bounds (Gradio 6 takes them in launch())."""
    return dict(
        theme=gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        css_paths=[str(ASSETS / "style.css")],
        js=explorer_js(),
        max_file_size="30mb",
        state_session_capacity=int(os.environ.get("LAZYLLM_SESSIONS", "64")),
        app_kwargs={"middleware": [Middleware(BodyLimit)]},  # requests over 512 KB (but uploads): 413
    )


def enable_queue(demo: gr.Blocks) -> gr.Blocks:
    """Gradio's queue, polling every QUEUE_POLL_S / PROGRESS_POLL_S. Runs pass the app's own gate
    (LAZYLLM_CONCURRENCY, LAZYLLM_MAX_QUEUE: "busy" beyond it); this queue bounds everything else (view
    updates, file loads): LAZYLLM_GRADIO_QUEUE events waiting (default 64), 4 at once per event."""
    demo.queue(max_size=int(os.environ.get("LAZYLLM_GRADIO_QUEUE", "64")), default_concurrency_limit=4)
    return set_queue_intervals(demo, QUEUE_POLL_S, PROGRESS_POLL_S)
