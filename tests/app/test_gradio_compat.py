"""Each Gradio workaround of app/gradio_compat.py against the Gradio installed: these fail when the
internal a workaround relies on changes (then revisit the workaround, do not loosen the test)."""

from __future__ import annotations

import asyncio
import inspect

import gradio as gr
import gradio.queueing
import pytest

from app.gradio_compat import explorer_blocks, named, set_queue_intervals


def test_blocks_still_preprocess_data_with_the_signature_overridden():
    method = gr.Blocks.preprocess_data
    assert inspect.iscoroutinefunction(method)
    params = list(inspect.signature(method).parameters.values())
    assert [p.name for p in params] == ["self", "block_fn", "inputs", "state", "explicit_call"]
    assert params[-1].default is False
    # ...and Gradio's request path still goes through it (an override nobody calls would do nothing)
    assert "self.preprocess_data(" in inspect.getsource(gr.Blocks.process_api)


def test_a_crafted_value_is_answered_with_a_message_that_names_it():
    with explorer_blocks() as demo:
        slider = gr.Slider(0, 10, value=1)
        out = gr.Number()
        slider.release(lambda x: x, slider, out)
    block_fn = next(iter(demo.fns.values()))
    with pytest.raises(gr.Error) as err:
        asyncio.run(demo.preprocess_data(block_fn, [{"not": "a number"}], None))
    assert err.value.message.startswith("bad request: ")
    ok = asyncio.run(demo.preprocess_data(block_fn, [3], None))
    assert ok == [3]  # a good value passes through unchanged


def test_the_queue_still_polls_with_the_attributes_set():
    with gr.Blocks() as demo:
        gr.Markdown("x")
    demo.queue()
    queue = demo._queue
    assert isinstance(queue, gradio.queueing.Queue)
    source = inspect.getsource(gradio.queueing.Queue)
    assert "asyncio.sleep(self.sleep_when_free)" in source
    assert "asyncio.sleep(self.progress_update_sleep_when_free)" in source
    assert isinstance(queue.sleep_when_free, float) and isinstance(
        queue.progress_update_sleep_when_free, float
    )
    assert set_queue_intervals(demo, 0.05, 0.1) is demo
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (0.05, 0.1)


def test_gradio_still_names_an_endpoint_after_the_function():
    def make(delta):
        def turn():
            return delta

        return turn

    with gr.Blocks() as demo:
        out = gr.Number()
        for name, delta in (("turn_next", 1), ("turn_back", -1)):
            gr.Button(name).click(named(make(delta), name), None, out)
        gr.Button("plain").click(make(0), None, out)
        gr.Button("plain again").click(make(0), None, out)
    names = [d["api_name"] for d in demo.config["dependencies"]]
    assert names == ["turn_next", "turn_back", "turn", "turn_1"]
