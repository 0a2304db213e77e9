"""LazyLLM: dynamic token pruning with an Aux Cache for long-context inference (arXiv 2407.14057)."""

from .config import PRESETS, STRATEGIES, LazyConfig, parse_schedule
from .generate import GenerationResult, Stats, StreamUpdate, Timings, encode_prompt, generate, generate_stream
from .model import LoadedModel, ModelLoadError, load_model
from .trace import StepTrace, Trace

__all__ = [
    "PRESETS",
    "STRATEGIES",
    "GenerationResult",
    "LazyConfig",
    "LoadedModel",
    "ModelLoadError",
    "Stats",
    "StepTrace",
    "StreamUpdate",
    "Timings",
    "Trace",
    "encode_prompt",
    "generate",
    "generate_stream",
    "load_model",
    "parse_schedule",
]
