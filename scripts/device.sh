#!/usr/bin/env bash
# Stages GPU work for the GPU machine (environment.md): it has no Rust toolchain and no network, so
# build here (x86-64 on both sides), copy the binaries into .device/ (git-ignored) and carry that
# folder with the device tool. There, `.device/run.sh TASK` points the binaries at that machine's
# libtorch (2.11.0+cu130) and NVRTC through LD_LIBRARY_PATH and writes results under $OUT.
#
#   scripts/device.sh [--tests] [--encoder]   # here: build --release, stage keta (gzipped) and the
#       peer benchmark; --tests adds the test binary, --encoder the sentence encoder in fp16 (45 MB:
#       needed by train-default and generate, not by smoke or bench)
#   device run: .device/run.sh smoke|bench|train-default|keta ARGS     (carry: [".device"])
#
# The carried folder must stay under the device tool's 64 MiB (with the tree): keta travels
# gzipped (13 -> ~5 MB) and MiniLM in fp16 (91 -> 45 MB).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
stage="$root/.device"
rm -rf "$stage" && mkdir -p "$stage/bin"

with_tests=0 with_encoder=0
for arg in "$@"; do
    case "$arg" in
        --tests) with_tests=1 ;;
        --encoder) with_encoder=1 ;;
        *) echo "device.sh: unknown option $arg (--tests, --encoder)" >&2; exit 2 ;;
    esac
done
echo "device: cargo build --release (keta)" >&2
cargo build --release --quiet --bin keta
cp target/release/keta "$stage/bin/keta"
strip "$stage/bin/keta"
gzip -9 "$stage/bin/keta"
mkdir -p "$stage/anchors"
if [[ $with_encoder == 1 ]]; then
    mkdir -p "$stage/assets/all-minilm-l6-v2"
    enc="$root/.assets/all-minilm-l6-v2"
    cp "$enc/config.json" "$enc/tokenizer.json" "$stage/assets/all-minilm-l6-v2/"
    .venv/bin/python scripts/half_safetensors.py "$enc/model.safetensors" "$stage/assets/all-minilm-l6-v2/model.safetensors"
    gzip -9 "$stage/assets/all-minilm-l6-v2/model.safetensors"
fi
cp "$root/../shared/anchors/"*.py "$stage/anchors/"
# The end-to-end test binary holds the GPU-only tests (#[ignore]d on CPU machines).
[[ $with_tests == 1 ]] && cargo test --release --no-run --quiet --message-format=json -p keta --test tests 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' \
    | while read -r exe; do cp "$exe" "$stage/bin/tests"; strip "$stage/bin/tests"; gzip -9 "$stage/bin/tests"; done

cat > "$stage/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: .device/run.sh TASK [ARGS...]
#   smoke          the GPU-only tests (staged with scripts/device.sh --tests)
#   bench          keta bench train|generate and the peer (anchors/mdm_peer.py) in one call
#   train-default  synthetic data -> the default model (configs/default-model.json) -> $OUT/model (fp16)
#   keta ARGS      the keta binary
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TP=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
export LD_LIBRARY_PATH=$TP/lib:$TP/../nvidia/cu13/lib:$TP/../nvidia/nccl/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export KETA_HOME="$(cd "$here/.." && pwd)" KETA_ASSETS=/tmp/keta-device/assets
OUT="${OUT:-$here/out}"; mkdir -p "$OUT"
keta=/tmp/keta-device/keta
mkdir -p /tmp/keta-device && gunzip -c "$here/bin/keta.gz" > "$keta" && chmod +x "$keta"
if [[ -d "$here/assets/all-minilm-l6-v2" ]]; then
    mkdir -p "$KETA_ASSETS/all-minilm-l6-v2"
    cp "$here/assets/all-minilm-l6-v2/"*.json "$KETA_ASSETS/all-minilm-l6-v2/"
    gunzip -c "$here/assets/all-minilm-l6-v2/model.safetensors.gz" > "$KETA_ASSETS/all-minilm-l6-v2/model.safetensors"
fi
if [[ -f "$here/bin/tests.gz" ]]; then
    gunzip -c "$here/bin/tests.gz" > /tmp/keta-device/tests && chmod +x /tmp/keta-device/tests
fi
work=/tmp/keta-device/work
task="${1:-smoke}"; shift || true
case "$task" in
    smoke) /tmp/keta-device/tests --ignored --nocapture --test-threads 1 gpu:: 2>&1 | tee "$OUT/smoke.log"; exit "${PIPESTATUS[0]}" ;;
    bench)
        nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
        "$keta" bench train --device cuda --json --runs 5 | tee "$OUT/bench.jsonl"
        "$keta" bench generate --device cuda --json --runs 5 | tee -a "$OUT/bench.jsonl"
        python3 "$here/anchors/mdm_peer.py" --device cuda | tee "$OUT/peer.jsonl" ;;
    train-default)
        set -e
        [[ -d "$here/assets/all-minilm-l6-v2" ]] || { echo "stage with scripts/device.sh --encoder" >&2; exit 2; }
        rm -rf "$work" && mkdir -p "$work"
        "$keta" data synth --out "$work/data" --count "${COUNT:-8000}" --seed 0 2>&1 | tail -1
        "$keta" train mdm --data "$work/data" --out "$work/run" --config "$KETA_HOME/configs/default-model.json" \
            --device cuda 2>&1 | tee "$OUT/train.log"
        "$keta" model pack --from "$work/run" --out "$OUT/model" --dtype f16
        cp "$work/run/train_log.jsonl" "$work/run/loss.png" "$OUT/" ;;
    keta) exec "$keta" "$@" ;;
    *) echo "unknown task $task (smoke | bench | train-default | keta ARGS)" >&2; exit 2 ;;
esac
RUN
chmod +x "$stage/run.sh"
du -sh "$stage" >&2
echo "device: staged in .device/; on the GPU machine run: .device/run.sh smoke  (carry .device)" >&2
