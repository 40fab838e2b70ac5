#!/usr/bin/env bash
# A/B of radial-attention kernel variants on the GPU machine, binaries alternated within one call
# (kernels/notes/README.md: calls on different machines differ by up to 10%, so only runs of the
# same call compare). The CUDA sources are compiled into keta (include_str!), so each variant is a
# keta build of a working tree.
#
#   here:        scripts/radial_ab.sh stage NAME [--tests]  # builds keta from the working tree
#                    into .device/ab/NAME.gz (git-ignored); --tests adds the kernels test binary
#                    as tests-NAME.gz. Stage "base" first, edit, stage the variant.
#   GPU machine: scripts/radial_ab.sh run                   # device tool, carry [".device/ab"]
#                scripts/radial_ab.sh ncu                   # the same variants under ncu
#   run's env: VARIANTS (every staged keta, in name order), ROUNDS (2), TOKENS (16384,65536),
#              DIMS (64,128), TESTS (a variant staged with --tests: its GPU tests run first),
#              FLEX (1: FlexAttention at steady state after the rounds), BENCH_TIMEOUT (120 s).
#   Results under $OUT: ab.jsonl (bench lines tagged "variant" and "round"), tests.log, flex.jsonl,
#   ncu.txt, gpu.txt.
# A timing-only variant must keep the kernels' invariants: the wgmma and ws kernels' dependent
# barrier reads the sign of the row sums, and a variant whose sums go negative hangs there.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ab="$root/.device/ab"
cd "$root"

variants() {
    if [[ -n "${VARIANTS:-}" ]]; then
        echo "$VARIANTS"
    else
        find "$ab" -maxdepth 1 -name '*.gz' ! -name 'tests-*' -printf '%f\n' | sed 's/\.gz$//' | sort | tr '\n' ' '
    fi
}

# On the GPU machine: torch's libraries for keta, the binaries unpacked into /tmp/radial-ab.
unpack() {
    local tp
    tp=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
    export LD_LIBRARY_PATH=$tp/lib:$tp/../nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    bin=/tmp/radial-ab && mkdir -p "$bin"
    for f in "$ab"/*.gz; do
        gunzip -c "$f" >"$bin/$(basename "$f" .gz)" && chmod +x "$bin/$(basename "$f" .gz)"
    done
    OUT="${OUT:-$ab/out}" && mkdir -p "$OUT"
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv | tee "$OUT/gpu.txt"
}

case "${1:-}" in
stage)
    set -e
    name="${2:?usage: scripts/radial_ab.sh stage NAME [--tests]}"
    [[ "$name" =~ ^[A-Za-z0-9_]+$ ]] || { echo "stage name: letters, digits and _ only" >&2; exit 2; }
    mkdir -p "$ab"
    echo "radial_ab: building keta (release) from the working tree as '$name'" >&2
    cargo build --release --quiet --bin keta
    strip -o "$ab/$name" target/release/keta && gzip -9f "$ab/$name"
    if [[ "${3:-}" == "--tests" ]]; then
        echo "radial_ab: building the kernels test binary as 'tests-$name'" >&2
        exe=$(cargo test --release --no-run --quiet --message-format=json -p kernels --lib 2>/dev/null |
            python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' | head -1)
        strip -o "$ab/tests-$name" "$exe" && gzip -9f "$ab/tests-$name"
    fi
    cp -f "$root/../shared/anchors/attn_anchor.py" scripts/flex_steady.py "$ab/"
    du -sh "$ab" >&2
    echo "staged: $(variants)" >&2
    ;;
run)
    unpack
    if [[ -n "${TESTS:-}" ]]; then
        echo "== GPU tests ($TESTS)" >&2
        "$bin/tests-$TESTS" --ignored --nocapture --test-threads 1 radial:: >"$OUT/tests.log" 2>&1
        grep -E "test result|FAILED|panicked" "$OUT/tests.log"
    fi
    for r in $(seq 1 "${ROUNDS:-2}"); do
        for v in $(variants); do
            echo "== round $r: $v" >&2
            timeout "${BENCH_TIMEOUT:-120}" "$bin/$v" bench attention --device cuda --json --runs 9 \
                --tokens "${TOKENS:-16384,65536}" --head-dims "${DIMS:-64,128}" 2>&1 |
                sed -n "s/^{/{\"variant\":\"$v\",\"round\":$r,/p" | tee -a "$OUT/ab.jsonl"
        done
    done
    if [[ "${FLEX:-1}" == 1 ]]; then
        echo "== FlexAttention at steady state" >&2
        PYTHONUNBUFFERED=1 timeout 240 python3 "$ab/flex_steady.py" "$ab/attn_anchor.py" 2>&1 |
            grep -v Warning | tee "$OUT/flex.jsonl"
    fi
    ;;
ncu)
    # Clocks locked at base (ncu's default) and caches left as they are between replays, so that
    # cycles compare without the power limit's clock changes (kernels/notes/README.md v8).
    unpack
    ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
    [[ -n "$ncu" ]] || { echo "ncu not found" >&2; exit 1; }
    for v in $(variants); do
        for t in ${TOKENS:-65536}; do
            echo "== $v, $t tokens" | tee -a "$OUT/ncu.txt"
            timeout 150 "$ncu" --cache-control none --clock-control base -k "regex:${KERNEL:-radial_pws}" \
                --launch-skip 30 --launch-count 1 --metrics \
                sm__cycles_elapsed.max,gpu__time_duration.sum,dram__bytes_read.sum,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active \
                "$bin/$v" bench attention --device cuda --runs 1 --tokens "$t" --head-dims "${DIMS:-64}" 2>&1 |
                grep -E "radial_|sm__|gpu__|dram__|lts__|rror" | tee -a "$OUT/ncu.txt"
        done
    done
    ;;
*)
    echo "usage: scripts/radial_ab.sh stage NAME [--tests] | run | ncu" >&2
    exit 2
    ;;
esac
