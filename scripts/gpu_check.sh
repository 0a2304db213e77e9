#!/usr/bin/env bash
# GPU checks, run as one script on a CUDA machine (no hub access needed):
#   1. equivalence: the tiny-model equivalence tests on CUDA, and `verify` (pruning off vs the
#      transformers forward) on a random-weight ~1B Llama in fp32 and an ~8B one in bf16;
#   2. speed: `bench-speed` tables in bf16 (random weights: timing only), and a timing-only `bench`.
# Random weights because the embedded model's file does not travel; a tokenizer folder does:
#   python -c "from lazyllm.eval.models import load_tokenizer; load_tokenizer().save_pretrained('.gpu/tokenizer')"
# Usage:  OUT=results/gpu scripts/gpu_check.sh
# Dry run on a CPU:  DEVICE=cpu SMALL=135m BIG=135m LONG=512 SHORT=256 REPEATS=1 scripts/gpu_check.sh
set -u
OUT=${OUT:-results/gpu}
DEVICE=${DEVICE:-cuda}
TOK=${TOK:-.gpu/tokenizer}
SMALL=${SMALL:-1b}
BIG=${BIG:-8b}
SHORT=${SHORT:-4096}
LONG=${LONG:-16384}
REPEATS=${REPEATS:-5}
PY=${PY:-python3}
WORK="$OUT/work"
mkdir -p "$WORK"
SUMMARY="$OUT/summary.md"
: >"$SUMMARY"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

# step NAME LIMIT_S CMD...: run with a time limit; its stdout (a markdown table) goes to the summary.
step() {
    local name=$1 limit=$2 t0=$SECONDS
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$@" >"$WORK/$name.md" 2>"$WORK/$name.err"
    local rc=$?
    {
        echo "## $name (rc=$rc, $((SECONDS - t0)) s)"
        echo '```'
        echo "$*"
        echo '```'
        cat "$WORK/$name.md"
        [ $rc -ne 0 ] && tail -5 "$WORK/$name.err"
        echo
    } >>"$SUMMARY"
    echo "rc=$rc in $((SECONDS - t0)) s"
}

{
    echo "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
    $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, \
'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
    echo
} >>"$SUMMARY"

# Most important first: each step's table lands in the summary as soon as it ends.
step equivalence-tests 120 env LAZYLLM_TEST_DEVICE="$DEVICE" $PY -m pytest -q -p no:cacheprovider \
    $(find tests -name test_equivalence.py) -k "not embedded"
step verify-fp32-"$SMALL" 90 $PY -m lazyllm verify --model "$TOK" --random-weights "$SMALL" \
    --device "$DEVICE" --dtype float32 --prompt-tokens 256,"$SHORT","$LONG" --steps 10
speed() {
    step speed-bf16-"$1"-"$2" 100 $PY -m lazyllm bench-speed --model "$TOK" --random-weights "$1" \
        --device "$DEVICE" --dtype bfloat16 --prompt-tokens "$2" --repeats "$REPEATS" --new-tokens 32
}
speed "$BIG" "$SHORT"
speed "$BIG" "$LONG"
step verify-bf16-"$BIG" 90 $PY -m lazyllm verify --model "$TOK" --random-weights "$BIG" \
    --device "$DEVICE" --dtype bfloat16 --prompt-tokens "$SHORT","$LONG" --steps 10
speed "$SMALL" "$LONG"
step bench-bf16-"$BIG" 100 $PY -m lazyllm bench --model "$TOK" --random-weights "$BIG" --device "$DEVICE" \
    --dtype bfloat16 --tasks passkey,kv --lengths "$SHORT" --n 2 --presets paper,default,aggressive \
    --strategies static,random --no-png --out "$WORK" --name bench-bf16-"$BIG"

tar czf "$OUT/work.tgz" -C "$OUT" work && rm -rf "$WORK"
cat "$SUMMARY"
