#!/usr/bin/env bash
# Stages GPU work for the GPU machine (environment.md): it has no Rust toolchain and no network, so
# build here (x86-64 on both sides), copy the binaries into .device/ (git-ignored) and carry that
# folder with the device tool. There, `.device/run.sh TASK` points the binaries at that machine's
# libtorch (2.11.0+cu130) and NVRTC through LD_LIBRARY_PATH and writes results under $OUT.
#
#   scripts/device.sh            # here: build --release, stage keta and the test binaries
#   device run: .device/run.sh smoke     (carry: [".device"])
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
stage="$root/.device"
rm -rf "$stage" && mkdir -p "$stage/bin"

echo "device: cargo build --release (keta) and the release test binaries" >&2
cargo build --release --quiet --bin keta
cp target/release/keta "$stage/bin/keta"
# The end-to-end test binary holds the GPU-only tests (#[ignore]d on CPU machines).
cargo test --release --no-run --quiet --message-format=json -p keta --test tests 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' \
    | while read -r exe; do cp "$exe" "$stage/bin/tests"; done
strip "$stage"/bin/* 2>/dev/null || true

cat > "$stage/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: .device/run.sh TASK [ARGS...]
#   smoke         the GPU-only tests (CUDA tensor, device name, CPU/GPU parity)
#   keta ARGS     the keta binary
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TP=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
export LD_LIBRARY_PATH=$TP/lib:$TP/../nvidia/cu13/lib:$TP/../nvidia/nccl/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export KETA_HOME="$(cd "$here/.." && pwd)"
OUT="${OUT:-$here/out}"; mkdir -p "$OUT"
task="${1:-smoke}"; shift || true
case "$task" in
    smoke) "$here/bin/tests" --ignored --nocapture --test-threads 1 gpu:: 2>&1 | tee "$OUT/smoke.log"; exit "${PIPESTATUS[0]}" ;;
    keta) exec "$here/bin/keta" "$@" ;;
    *) echo "unknown task $task (smoke | keta ARGS)" >&2; exit 2 ;;
esac
RUN
chmod +x "$stage/run.sh"
du -sh "$stage" >&2
echo "device: staged in .device/; on the GPU machine run: .device/run.sh smoke  (carry .device)" >&2
