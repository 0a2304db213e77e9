"""LazyLLM: dynamic token pruning with an Aux Cache for long-context inference (arXiv 2407.14057)."""

from .compare import Comparison, compare_runs, teacher_forced
from .config import PRESETS, STRATEGIES, LazyConfig, parse_schedule
from .generate import GenerationResult, Stats, StreamUpdate, Timings, encode_prompt, generate, generate_stream
from .model import LoadedModel, ModelLoadError, load_model
from .trace import StepTrace, Trace

__all__ = [
    "PRESETS",
    "STRATEGIES",
    "Comparison",
    "GenerationResult",
    "LazyConfig",
    "LoadedModel",
    "ModelLoadError",
    "Stats",
    "StepTrace",
    "StreamUpdate",
    "Timings",
    "Trace",
    "compare_runs",
    "encode_prompt",
    "generate",
    "generate_stream",
    "load_model",
    "parse_schedule",
    "teacher_forced",
]
