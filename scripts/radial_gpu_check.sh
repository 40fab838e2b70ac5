#!/usr/bin/env bash
# Radial attention on the GPU machine (issue #9, design radial-attention.md section 4), in one call:
# the GPU-only kernels tests (every fused kernel the GPU runs vs the fp32 dense masked
# reference), `keta bench attention` (all fused kernels in one process), the FlexAttention anchor
# (anchors/attn_anchor.py) for the same shapes, FlexAttention again at steady state
# (scripts/flex_steady.py: the anchor's 20 calls after compiling move by up to 1.7x), and
# compute-sanitizer memcheck and racecheck over the default fused kernel where the machine has it.
#
#   here:        scripts/radial_gpu_check.sh stage     # builds keta + the kernels test binary into
#                                                      # .device/radial (git-ignored), copies the anchor
#   GPU machine: scripts/radial_gpu_check.sh run       # device tool: carry [".device/radial"];
#                                                      # results under $OUT (tests.log, bench.jsonl,
#                                                      # anchor.jsonl, flex_steady.jsonl,
#                                                      # sanitizer.log, gpu.txt)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stage="$root/.device/radial"
cd "$root"

case "${1:-}" in
stage)
    set -e
    rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/anchors"
    cargo build --release --quiet --bin keta
    cp target/release/keta "$stage/bin/keta"
    cargo test --release --no-run --quiet --message-format=json -p kernels --lib 2>/dev/null |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' | head -1 | xargs -I{} cp {} "$stage/bin/kernels-tests"
    strip "$stage/bin/keta" "$stage/bin/kernels-tests"
    gzip -9 "$stage/bin/keta" "$stage/bin/kernels-tests"
    cp "$root/../shared/anchors/attn_anchor.py" scripts/flex_steady.py "$stage/anchors/"
    du -sh "$stage" >&2
    echo "staged; device run: scripts/radial_gpu_check.sh run   (carry .device/radial)" >&2
    ;;
run)
    [[ -f "$stage/bin/keta.gz" ]] || { echo "nothing staged: run scripts/radial_gpu_check.sh stage here first" >&2; exit 2; }
    TP=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
    export LD_LIBRARY_PATH=$TP/lib:$TP/../nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    OUT="${OUT:-$stage/out}"; mkdir -p "$OUT"
    bin=/tmp/keta-radial && mkdir -p "$bin"
    for b in keta kernels-tests; do gunzip -c "$stage/bin/$b.gz" > "$bin/$b" && chmod +x "$bin/$b"; done
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
    status=0
    echo "== GPU tests" >&2
    "$bin/kernels-tests" --ignored --nocapture --test-threads 1 radial:: 2>&1 | tee "$OUT/tests.log"
    [[ ${PIPESTATUS[0]} == 0 ]] || status=1
    echo "== keta bench attention" >&2
    "$bin/keta" bench attention --device cuda --json --runs "${RUNS:-9}" 2>&1 | tee "$OUT/bench.jsonl"
    [[ ${PIPESTATUS[0]} == 0 ]] || status=1
    echo "== FlexAttention anchor" >&2
    PYTHONUNBUFFERED=1 timeout "${ANCHOR_TIMEOUT:-240}" python3 "$stage/anchors/attn_anchor.py" 2>&1 |
        grep -v Warning | tee "$OUT/anchor.jsonl"
    echo "== FlexAttention at steady state (scripts/flex_steady.py)" >&2
    PYTHONUNBUFFERED=1 timeout "${ANCHOR_TIMEOUT:-240}" python3 "$stage/anchors/flex_steady.py" \
        "$stage/anchors/attn_anchor.py" 2>&1 | grep -v Warning | tee "$OUT/flex_steady.jsonl"
    if command -v compute-sanitizer >/dev/null; then
        echo "== compute-sanitizer memcheck (fused kernel via the auto backend)" >&2
        timeout "${SANITIZER_TIMEOUT:-120}" compute-sanitizer --tool memcheck --print-limit 20 \
            "$bin/kernels-tests" --ignored --test-threads 1 auto_backend_with_condition_tokens 2>&1 |
            tail -n 25 | tee "$OUT/sanitizer.log"
        echo "== compute-sanitizer racecheck (shared memory of the fused kernel)" >&2
        timeout "${SANITIZER_TIMEOUT:-120}" compute-sanitizer --tool racecheck --print-limit 20 \
            "$bin/kernels-tests" --ignored --test-threads 1 auto_backend_with_condition_tokens 2>&1 |
            tail -n 25 | tee -a "$OUT/sanitizer.log"
    else
        echo "compute-sanitizer not found" | tee "$OUT/sanitizer.log"
    fi
    exit $status
    ;;
*)
    echo "usage: scripts/radial_gpu_check.sh stage|run" >&2
    exit 2
    ;;
esac
