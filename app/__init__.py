"""LazyLLM Explorer: the Gradio app over the `lazyllm` runtime (see app/ui.py: build_demo)."""
