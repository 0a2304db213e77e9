"""Every place the explorer relies on Gradio's internals, each with why (Gradio 6.x).

Each workaround here has a test in tests/app/test_gradio_compat.py that fails when the Gradio
internal it relies on changes (a private attribute gone, a method with another signature, a name no
longer read), so an upgrade says what to revisit instead of silently changing the app's behaviour.
Nothing else in app/ reaches into Gradio's private attributes.
"""

from __future__ import annotations

import functools

import gradio as gr

from app.markup import message


def explorer_blocks(**kwargs) -> gr.Blocks:
    """A gr.Blocks(**kwargs) whose own input preprocessing answers a crafted value (a string for a
    slider, too few inputs) with a message that names it, not Gradio's anonymous `error: null`.

    Why: Gradio converts the request's values in `Blocks.preprocess_data` (async, (block_fn, inputs,
    state, explicit_call)) before any callback runs, so no callback of ours can catch what fails
    there; an exception other than gr.Error reaches the page as `error: null`. The subclass is made
    on first use, not at import: Gradio's metaclass reads (and may rewrite) its own .pyi stubs for
    every subclass of gr.Blocks.
    """
    return _explorer_blocks_class()(**kwargs)


@functools.cache
def _explorer_blocks_class() -> type[gr.Blocks]:
    class ExplorerBlocks(gr.Blocks):
        async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
            try:
                return await super().preprocess_data(block_fn, inputs, state, explicit_call)
            except gr.Error:
                raise
            except Exception as e:
                first = (str(e).splitlines() or [type(e).__name__])[0]
                raise gr.Error(message(f"bad request: {first}", 200), print_exception=False) from None

    return ExplorerBlocks


def set_queue_intervals(demo: gr.Blocks, queue_s: float, progress_s: float) -> gr.Blocks:
    """Make `demo`'s queue look for new events every `queue_s` and for progress every `progress_s`
    seconds while it is free (call after `demo.queue()`).

    Why: Gradio's queue (`demo._queue`, a gradio.queueing.Queue) polls every 1 ms and 10 ms on Linux
    (its `sleep_when_free` and `progress_update_sleep_when_free`, 50 ms and 100 ms on Windows), and
    `queue()` offers no parameter for them: an idle server spends ~9% of a core on it, and during a
    run those wake-ups take the GIL from the model's thread.
    """
    queue = demo._queue
    queue.sleep_when_free, queue.progress_update_sleep_when_free = queue_s, progress_s
    return demo


def named(fn, name: str):
    """`fn`, renamed `name` (returned, for chaining).

    Why: Gradio names an event's API endpoint (also a private one: the page's config and the API
    page list it) after `fn.__name__`, with a numeric suffix for repeats. Closures made in a loop or
    by a factory would all be `turn`, `turn_1`, `run`, ...; a name that says which button it serves
    keeps the endpoints readable and stable.
    """
    fn.__name__ = name
    return fn
