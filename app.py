"""LazyLLM Explorer: the Hugging Face Space entry point.

    python app.py            # serves on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 127.0.0.1:7860)

Building the UI does no model work: the embedded model loads on the first run.
"""

import os

from app.ui import build_demo, enable_queue, launch_kwargs

demo = enable_queue(build_demo())

if __name__ == "__main__":
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **launch_kwargs(),
    )
