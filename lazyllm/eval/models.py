"""The model a harness command runs: the embedded or a given model, or random Llama weights of a size.

Random weights are for timing only (a GPU run without hub access: ``--random-weights 8b``); their
tokenizer comes from ``--model`` (default: the embedded SmolLM2's).
"""

from __future__ import annotations

# name -> (hidden, layers, heads, kv heads, intermediate): Llama-shaped sizes.
RANDOM_SIZES = {
    "135m": (576, 30, 9, 3, 1536),
    "360m": (960, 32, 15, 5, 2560),
    "1b": (2048, 16, 32, 8, 8192),
    "3b": (3072, 28, 24, 8, 8192),
    "7b": (4096, 32, 32, 8, 11008),
    "8b": (4096, 32, 32, 8, 14336),
}


def random_llama_config(size: str, vocab_size: int, max_positions: int = 32768):
    """A LlamaConfig of about `size` parameters ("1b", "7b", ...): timing-only runs, random weights."""
    from transformers import LlamaConfig

    key = size.strip().lower()
    if key not in RANDOM_SIZES:
        raise ValueError(f"--random-weights: size must be one of {', '.join(RANDOM_SIZES)}, got {size!r}")
    hidden, layers, heads, kv, inter = RANDOM_SIZES[key]
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
        max_position_embeddings=max_positions,
        rope_theta=500000.0,
        tie_word_embeddings=False,
    )


def load_tokenizer(source: str | None = None):
    """The tokenizer of `source` (default: the embedded SmolLM2's, read from its GGUF file)."""
    from transformers import AutoTokenizer

    from lazyllm.model import EMBEDDED_FILE, HUB_FALLBACK, embedded_model_path

    if source:
        return AutoTokenizer.from_pretrained(source)
    folder = embedded_model_path()
    if folder is None:
        return AutoTokenizer.from_pretrained(HUB_FALLBACK)
    return AutoTokenizer.from_pretrained(str(folder), gguf_file=EMBEDDED_FILE)


def load_bench_model(args):
    """The model of `args` (--model, --device, --dtype, --threads, --random-weights, --seed)."""
    import torch

    from lazyllm import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if not args.random_weights:
        return load_model(args.model, dtype=args.dtype, device=device)
    from transformers import LlamaForCausalLM

    tok = load_tokenizer(args.model)
    cfg = random_llama_config(args.random_weights, len(tok))
    torch.manual_seed(args.seed)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(dtype)
    model.config._name_or_path = f"random-llama-{args.random_weights}"
    return load_model(model, tokenizer=tok, device=device)


def add_model_options(p, threads: int | None = None) -> None:
    """--model, --device, --dtype, --threads, --random-weights and --seed (every harness command)."""
    p.add_argument(
        "--model",
        default=None,
        help="hub id, local folder, or gemma3-270m (optional package) (default: the embedded SmolLM2)",
    )
    p.add_argument("--device", default=None, choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    p.add_argument(
        "--random-weights", default=None, help="random Llama-shaped model: " + ", ".join(RANDOM_SIZES)
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the random weights (and of the `random` strategy)"
    )
