#!/usr/bin/env bash
# Stages GPU work for the GPU machine (environment.md): it has no Rust toolchain and no network, so
# build here (x86-64 on both sides), copy the binaries into .device/ (git-ignored) and carry that
# folder with the device tool. There, `.device/run.sh TASK` points the binaries at that machine's
# libtorch (2.11.0+cu130) and NVRTC through LD_LIBRARY_PATH and writes results under $OUT.
#
#   scripts/device.sh [--tests] [--encoder] [--glove]   # here: build --release, stage keta
#       (gzipped) and the peer benchmark; --tests adds the test binary, --encoder the sentence
#       encoder in fp16 (45 MB: needed by train-default, generate, calibrate and ablation), --glove
#       the evaluator's GloVe rows for the synthetic vocabulary (the full 80 MB cannot travel)
#   device run: .device/run.sh smoke|bench|train-default|calibrate|ablation|keta ARGS  (carry: [".device"])
#
# The carried folder must stay under the device tool's 64 MiB (with the tree): keta travels
# gzipped (13 -> ~5 MB) and MiniLM in fp16 (91 -> 45 MB).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
stage="$root/.device"
rm -rf "$stage" && mkdir -p "$stage/bin"

with_tests=0 with_encoder=0 with_glove=0
for arg in "$@"; do
    case "$arg" in
        --tests) with_tests=1 ;;
        --encoder) with_encoder=1 ;;
        --glove) with_glove=1 ;;
        *) echo "device.sh: unknown option $arg (--tests, --encoder, --glove)" >&2; exit 2 ;;
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
if [[ $with_glove == 1 ]]; then
    # Every GloVe row a synthetic caption or a KP-accuracy prompt can look up (words and the
    # lemmas the tagger may make of them), plus unk/sos/eos: the same vectors, far fewer rows.
    vocab_data=$(mktemp -d)
    target/release/keta data synth --out "$vocab_data/data" --count 3000 --seed 0 >/dev/null 2>&1
    mkdir -p "$stage/assets/glove-6b-50d"
    .venv/bin/python - "$vocab_data/data" "$root/.assets/glove-6b-50d" "$stage/assets/glove-6b-50d" "$root/kp/prompts/kp-prompts-v1.json" <<'PY'
import json, pathlib, re, sys
import numpy as np
data, glove, out, prompts = map(pathlib.Path, sys.argv[1:])
texts = [l.split("#")[0] for f in (data / "texts").glob("*.txt") for l in f.read_text().splitlines()]
texts += [p["text"] for p in json.loads(prompts.read_text())["prompts"]]
seen = set()
for t in texts:
    for w in re.findall(r"[a-z]+", t.lower()):
        seen.update({w, w[:-1], w[:-2], w[:-3], w[:-3] + "e", w[:-4], w[:-3] + "y", w[:-2] + "e"})
words = (glove / "words.txt").read_text().splitlines()
keep = [i for i, w in enumerate(words) if w and (w in seen or w in ("unk", "sos", "eos"))]
vectors = np.load(glove / "vectors.npy")
np.save(out / "vectors.npy", np.ascontiguousarray(vectors[keep], dtype=np.float32))
(out / "words.txt").write_text("\n".join(words[i] for i in keep) + "\n")
print(f"device: GloVe rows kept for the synthetic vocabulary: {len(keep)}", file=sys.stderr)
PY
    rm -rf "$vocab_data"
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
#   calibrate      steps/s of every ablation trainer and the time of one evaluation replication
#   ablation       scripts/ablation.sh on every GPU of the machine -> $OUT/ablation.tar.gz
#   long           generate --long, 1k-64k frames, dense and radial: time and peak GPU memory
#   dist           multi-GPU training (#10): equivalence, two "machines" over TCP, scaling, a dead rank
#   attribution    #7: a decoder without guide tokens or auxiliary loss beside plain MDM, evaluated
#   scaling        #10's throughput per GPU, each staged binary (bin/keta*.gz) in turn: 1 GPU, N GPUs,
#                  N lone runs at once; and NCCL's all-reduce alone at the gradient's size
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
if [[ -d "$here/assets/glove-6b-50d" ]]; then
    mkdir -p "$KETA_ASSETS" && cp -r "$here/assets/glove-6b-50d" "$KETA_ASSETS/"
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
    calibrate)
        set -e
        nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
        rm -rf "$work" && mkdir -p "$work"
        s=$(date +%s%N); "$keta" data synth --out "$work/data" --count 8000 --seed 0 2>&1 | tail -1
        echo "synth: $(( ($(date +%s%N) - s) / 1000000 )) ms"
        c="$KETA_HOME/configs/ablation"
        t() { local name=$1; shift; s=$(date +%s%N); "$keta" "$@" --data "$work/data" --device cuda > "$OUT/$name.log" 2>&1 || { tail -20 "$OUT/$name.log"; exit 1; }
              echo "$name: $(( ($(date +%s%N) - s) / 1000000 )) ms; $(grep -o '"steps_per_s":[0-9.]*' "$OUT/$name.log" | tail -1)"; }
        t aligner train aligner --out "$work/aligner" --config "$c/aligner.json" --steps 400
        t evaluator train evaluator --out "$work/evaluator" --config "$c/evaluator.json" --steps 400
        t mdm train mdm --out "$work/mdm" --config "$c/encoder.json" --steps 500
        t keta-enc train mdm --out "$work/keta-enc" --config "$c/encoder.json" --steps 500 --lambda-kp 0.001 --aligner "$work/aligner"
        t keta-dec train mdm --out "$work/keta-dec" --config "$c/decoder.json" --steps 500 --lambda-kp 0.001 --aligner "$work/aligner"
        for m in mdm keta-dec; do
            t "eval-$m" eval --model "$work/$m" --evaluator "$work/evaluator" --replications 1 --mm-replications 1 --kp-replications 1 --precision bf16 --out "$OUT/eval-$m.json"
        done
        [[ -x /tmp/keta-device/tests ]] && /tmp/keta-device/tests --ignored --nocapture --test-threads 1 gpu:: > "$OUT/smoke.log" 2>&1; tail -5 "$OUT/smoke.log" ;;
    ablation)
        # The ablation runs in its own process session (setsid), so it outlives this call and
        # several calls continue it while the machine stays warm; each call waits up to
        # ABLATION_LIMIT seconds, then sends back what exists. One GPU: all lanes share it. Once
        # lane 0's jobs are done, its GPU runs the long-motion sweep (task long).
        gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | tr '\n' ' ')
        [[ $(wc -w <<< "$gpus") == 1 ]] && gpus="0 0 0 0"
        nvidia-smi --query-gpu=name --format=csv,noheader > "$OUT/gpu.txt"
        a="$work/ablation"; mkdir -p "$a"
        if [[ ! -f "$a/running" ]] || ! kill -0 "$(cat "$a/running")" 2>/dev/null; then
            rm -f "$a/running"
            (cd "$KETA_HOME" && GPUS="$gpus" setsid nohup scripts/ablation.sh "$keta" "$a" >> "$a/ablation.log" 2>&1 &)
            # The script writes its own pid (a background subshell's $! would be the wrong one).
            for _ in $(seq 100); do [[ -s "$a/running" ]] && break; sleep 0.1; done
            if [[ -n "${LONG_AFTER:-eval-keta-enc-1e-4}" && ! -f "$work/long/long.csv" ]]; then
                setsid nohup bash -c "until [[ -f '$a/logs/${LONG_AFTER:-eval-keta-enc-1e-4}.done' ]]; do sleep 5; done;
                    CUDA_VISIBLE_DEVICES=${gpus%% *} '$here/run.sh' long" > "$a/long.log" 2>&1 &
            fi
        fi
        end=$(( $(date +%s) + ${ABLATION_LIMIT:-540} ))
        while kill -0 "$(cat "$a/running")" 2>/dev/null && (( $(date +%s) < end )); do sleep 5; done
        kill -0 "$(cat "$a/running")" 2>/dev/null && echo "ablation: still running; call again" || echo "ablation: finished"
        tail -n 40 "$a/ablation.log"; cp "$a/ablation.log" "$OUT/"
        [[ -f "$work/long/long.csv" ]] && cp "$work/long/long.csv" "$a/"
        (cd "$a" && tar -czf "$OUT/ablation.tar.gz" $(ls -d ablation.md eval logs long.log long.csv */train_log.jsonl */loss.png */run_config.json 2>/dev/null))
        if [[ -f "$a/ablation.md" && ! -d "$work/keta-dec-fp16" ]]; then
            "$keta" model pack --from "$a/keta-dec" --out "$work/keta-dec-fp16" --dtype f16
            tar -czf "$OUT/keta-dec-model.tar.gz" -C "$work" keta-dec-fp16
        fi ;;
    long)
        # #9: keta generate --long from 1k to 64k frames, dense and radial attention, bf16 (radial:
        # the fused kernel; dense: libtorch's SDPA) and fp32 (radial: block-gather). Each point runs
        # 2 and 12 DDPM steps: a step's time is the difference / 10 (process start, kernel
        # compilation and set-up cancel out). Then the 10-minute motion (12,000 frames, 50 steps,
        # bf16) dense and radial on seed 0 and dense on seed 1, compared by root-relative joint
        # RMSE. Times: sample_0/summary.json (after a device sync); peak GPU memory over the run:
        # nvidia-smi every 50 ms minus the idle reading -> $OUT/long.csv, $OUT/long-quality.txt
        l="$work/long"; mkdir -p "$l"; csv="$l/long.csv.part"
        g="${CUDA_VISIBLE_DEVICES:-0}"
        echo "frames,attention,precision,steps,seed,sample_s,peak_mib" > "$csv"
        used() { nvidia-smi --id="$g" --query-gpu=memory.used --format=csv,noheader,nounits; }
        one() { # one FRAMES ATTENTION PRECISION STEPS SEED
            local d="$l/$1-$2-$3-$4-$5" idle peak=0 m
            idle=$(used)
            "$keta" generate --text "a person walks forward, then turns around" --long --attention "$2" \
                --precision "$3" --seconds "$(python3 -c "print($1 / 20)")" --steps "$4" --seed "$5" \
                --format npy --device cuda --out "$d" --force > "$d.log" 2>&1 &
            local p=$!
            while kill -0 $p 2>/dev/null; do m=$(used); (( m > peak )) && peak=$m; sleep 0.05; done
            wait $p || { echo "long: $* failed:"; tail -n 5 "$d.log"; return 0; }
            echo "$1,$2,$3,$4,$5,$(python3 -c "import json;print(json.load(open('$d/sample_0/summary.json'))['timings']['sample_s'])"),$((peak - idle))" | tee -a "$csv"
        }
        one 1024 radial bf16 2 0 > /dev/null  # warm-up: NVRTC compile, cuDNN and cuBLAS set-up
        for frames in 1024 2048 4096 8192 16384 32768 65536; do
            for p in bf16 fp32; do for att in dense radial; do for n in 2 12; do one $frames $att $p $n 0; done; done; done
        done
        one 12000 radial bf16 50 0; one 12000 dense bf16 50 0; one 12000 dense bf16 50 1
        mv "$csv" "$l/long.csv"; cp "$l/long.csv" "$OUT/"
        python3 - "$l" <<'PY' | tee "$OUT/long-quality.txt"
import csv, math, sys
import numpy as np
l = sys.argv[1]
rows = list(csv.DictReader(open(f"{l}/long.csv")))
t = {(int(r["frames"]), r["attention"], r["precision"], int(r["steps"])): (float(r["sample_s"]), int(r["peak_mib"])) for r in rows if r["seed"] == "0"}
print("frames,attention,precision,step_s,peak_mib")
fits = {}
for (f, a, p, n), (s12, mem) in sorted(t.items()):
    if n != 12: continue
    step = (s12 - t[(f, a, p, 2)][0]) / 10
    print(f"{f},{a},{p},{step:.4f},{mem}")
    fits.setdefault((a, p), []).append((f, step))
for (a, p), pts in fits.items():
    big = [(f, s) for f, s in pts if f >= 16384 and s > 0]
    k = np.polyfit([math.log(f) for f, _ in big], [math.log(s) for _, s in big], 1)[0]
    print(f"growth of a step's time, 16k-64k frames, {a} {p}: n^{k:.2f}")
runs = {"radial": "radial-bf16-50-0", "dense": "dense-bf16-50-0", "dense seed 1": "dense-bf16-50-1"}
j = {k: np.load(f"{l}/12000-{r}/sample_0/joints.npy") for k, r in runs.items()}
rel = {k: v - v[:, :1] for k, v in j.items()}
rmse = lambda a, b: float(np.sqrt(((rel[a] - rel[b]) ** 2).sum(-1).mean()))
print(f"12,000 frames, 50 steps, bf16: root-relative joint RMSE radial vs dense (seed 0) {rmse('radial', 'dense'):.4f} m; "
      f"dense seed 0 vs seed 1 {rmse('dense', 'dense seed 1'):.4f} m")
PY
        ;;
    dist)
        # #10 on every GPU of the machine, each step's output under $OUT: (1) N ranks vs one
        # process on the same global batch (weights after 20 steps, fp32, tiny model); (2) two
        # "machines" on one host meeting over TCP, and a rank started with another config;
        # (3) samples/s per GPU at the reference size, 64 samples per GPU, on 1, 2, 4 GPUs;
        # (4) a rank killed mid-run.
        n=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
        nvidia-smi --query-gpu=name --format=csv,noheader | head -1 > "$OUT/gpu.txt"
        nvidia-smi topo -m > "$OUT/topo.txt" 2>&1
        d="$work/dist"; rm -rf "$d"; mkdir -p "$d"; c="$KETA_HOME/configs/parallel"
        "$keta" data synth --out "$d/data" --count 4000 --seed 0 > "$d/synth.log" 2>&1
        run_train() { local name=$1; shift; local s=$(date +%s%N)
               "$keta" train mdm --data "$d/data" --out "$d/$name" --device cuda "$@" > "$OUT/$name.log" 2>&1
               local rc=$?; echo "$name: exit $rc, $(( ($(date +%s%N) - s) / 1000000 )) ms" | tee -a "$OUT/dist.txt"; return $rc; }
        run_train check-1 --config "$c/check.json"
        for g in 2 4; do
            (( g <= n )) || continue
            run_train check-$g --config "$c/check.json" --gpus $g
            python3 "$KETA_HOME/scripts/compare_weights.py" --skip-key-bias \
                "$d/check-1/ckpt-20/train_weights.safetensors" "$d/check-$g/ckpt-20/train_weights.safetensors" \
                | sed "s/^/check-$g vs check-1 weights: /" | tee -a "$OUT/dist.txt"
            python3 - "$d/check-1/train_log.jsonl" "$d/check-$g/train_log.jsonl" <<'PY' | tee -a "$OUT/dist.txt"
import json, sys
a, b = ([json.loads(l)["loss"] for l in open(f) if '"loss"' in l] for f in sys.argv[1:])
print(f"losses 1 GPU {a}\nlosses N GPU {b}\nmax loss diff {max(abs(x - y) for x, y in zip(a, b)):.3g}")
PY
        done
        # Two launchers as two machines of one GPU each, meeting over TCP.
        port=29517
        for k in 0 1; do
            CUDA_VISIBLE_DEVICES=$k "$keta" train mdm --data "$d/data" --out "$d/nodes" --device cuda --config "$c/check.json" \
                --gpus 1 --nodes 2 --node-rank $k --rendezvous 127.0.0.1:$port > "$OUT/nodes-$k.log" 2>&1 & eval "p$k=\$!"
        done
        wait $p0; r0=$?; wait $p1; r1=$?; echo "two nodes over TCP: exit $r0 $r1" | tee -a "$OUT/dist.txt"
        python3 "$KETA_HOME/scripts/compare_weights.py" --skip-key-bias \
            "$d/check-1/ckpt-20/train_weights.safetensors" "$d/nodes/ckpt-20/train_weights.safetensors" \
            | sed "s/^/nodes vs check-1 weights: /" | tee -a "$OUT/dist.txt"
        for k in 0 1; do
            CUDA_VISIBLE_DEVICES=$k timeout 120 "$keta" train mdm --data "$d/data" --out "$d/mismatch-$k" --device cuda --config "$c/check.json" \
                --steps $((20 + k)) --gpus 1 --nodes 2 --node-rank $k --rendezvous 127.0.0.1:$((port + 1)) > "$OUT/mismatch-$k.log" 2>&1 & eval "p$k=\$!"
        done
        wait $p0; r0=$?; wait $p1; r1=$?; echo "mismatched configs: exit $r0 $r1" | tee -a "$OUT/dist.txt"
        tail -n 2 "$OUT/mismatch-0.log" "$OUT/mismatch-1.log" | tee -a "$OUT/dist.txt"
        # Scaling: the reference model, 64 samples per GPU.
        for g in 1 2 4; do
            (( g <= n )) || continue
            python3 -c "import json,sys; c=json.load(open('$c/reference-64.json')); c['batch_size']=64*$g; json.dump(c, open('$d/ref-$g.json','w'))"
            run_train scale-$g --config "$d/ref-$g.json" --gpus $g
            python3 - "$d/scale-$g/train_log.jsonl" $g <<'PY' | tee -a "$OUT/dist.txt"
import json, sys
g = int(sys.argv[2])
rates = [r["steps_per_s"] for r in map(json.loads, open(sys.argv[1])) if "steps_per_s" in r and r["step"] > 50]
sps = sum(rates) / len(rates)
print(f"scale {g} GPU(s): {sps:.2f} steps/s, {sps * 64 * g:.0f} samples/s, {sps * 64:.0f} samples/s per GPU (intervals {rates})")
PY
        done
        # A rank that dies: kill rank 1 once training runs; the launcher must stop rank 0.
        "$keta" train mdm --data "$d/data" --out "$d/die" --device cuda --config "$c/reference-64.json" --steps 100000 --gpus 2 > "$OUT/die.log" 2>&1 & p=$!
        for i in $(seq 120); do grep -q '"step"' "$d/die/train_log.jsonl" 2>/dev/null && break; sleep 0.5; done
        kill -9 "$(pgrep -f -- '--rank 1' | head -1)"; s=$(date +%s%N)
        wait $p; rc=$?
        echo "killed rank 1: launcher exit $rc after $(( ($(date +%s%N) - s) / 1000000 )) ms" | tee -a "$OUT/dist.txt"
        tail -n 4 "$OUT/die.log" | tee -a "$OUT/dist.txt"
        pgrep -fa "keta train" && echo "LEFT RUNNING" | tee -a "$OUT/dist.txt" ;;
    attribution)
        # #7 follow-up: which part of the KETA decoder helps? A decoder with sub-sentence tokens but
        # no guide tokens and no auxiliary loss, on the ablation's data, evaluator and evaluation
        # flags (scripts/ablation.sh), on one GPU. Training is deterministic on one kind of GPU:
        # the evaluator's last log line must equal the ablation's (then its rows compare).
        set -e
        a="$work/attribution"; rm -rf "$a"; mkdir -p "$a"; c="$KETA_HOME/configs/ablation"
        "$keta" data synth --out "$a/data" --count 8000 --seed 0 > "$a/synth.log" 2>&1
        "$keta" train evaluator --data "$a/data" --out "$a/evaluator" --config "$c/evaluator.json" --device cuda > "$OUT/evaluator.log" 2>&1
        python3 -c "import json; c=json.load(open('$c/decoder.json')); c['model']['guide_tokens']=False; json.dump(c, open('$a/decoder-no-guide.json','w'))"
        "$keta" train mdm --data "$a/data" --out "$a/dec-no-guide" --config "$a/decoder-no-guide.json" --device cuda > "$OUT/dec-no-guide.log" 2>&1
        "$keta" eval --model "$a/dec-no-guide" --data "$a/data" --evaluator "$a/evaluator" --replications 20 \
            --mm-replications 5 --kp-replications 20 --max-motions 1000 --precision bf16 --chunk 1024 \
            --device cuda --out "$OUT/eval-dec-no-guide.json" > "$OUT/eval-dec-no-guide.log" 2>&1
        tail -n 1 "$a/evaluator/train_log.jsonl" "$a/dec-no-guide/train_log.jsonl"
        grep -h "steps 0\.\." "$OUT/dec-no-guide.log" "$OUT/evaluator.log" || true
        python3 - "$OUT/eval-dec-no-guide.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["report"]
m, t = r["model"], r["timing"]
keys = ["r_precision_top1", "r_precision_top2", "r_precision_top3", "fid", "mm_dist", "diversity", "multimodality", "kp_accuracy"]
print("| decoder, no guide tokens, lambda 0 | " + " | ".join(f"{m[k]['mean']:.3f} ± {m[k]['interval95']:.3f}" for k in keys) + f" | {m['non_finite_motions']} |")
print(f"evaluation {t['total_s']:.0f} s (generation {t['generate_s']:.0f} s, MultiModality {t['multimodality_s']:.0f} s, KP {t['kp_s']:.0f} s)")
PY
        ;;
    scaling)
        # The reference model at 64 samples per GPU (as in dist), 600 steps, rate after step 100.
        # Every staged binary runs the same runs in turn (a baseline beside a change, one lease);
        # "lone" is N independent 1-GPU runs at once: what sharing the host costs without NCCL.
        n=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
        nvidia-smi --query-gpu=name --format=csv,noheader | head -1 > "$OUT/gpu.txt"
        d="$work/scaling"; rm -rf "$d"; mkdir -p "$d"; c="$KETA_HOME/configs/parallel"
        "$keta" data synth --out "$d/data" --count 4000 --seed 0 > "$d/synth.log" 2>&1
        rate() { python3 - "$@" <<'PY'
import json, sys
rates = [r["steps_per_s"] for f in sys.argv[2:] for r in map(json.loads, open(f)) if "steps_per_s" in r and r["step"] > 100]
print(f"{sys.argv[1]}: {sum(rates) / len(rates) * 64:.0f} samples/s per GPU (steps/s per interval {[round(x, 1) for x in rates]})")
PY
        }
        for g in 1 "$n"; do
            python3 -c "import json; c=json.load(open('$c/reference-64.json')); c.update(batch_size=64*$g, steps=600); json.dump(c, open('$d/ref-$g.json','w'))"
        done
        for z in "$here"/bin/keta*.gz; do
            b=$(basename "$z" .gz); gunzip -c "$z" > "/tmp/keta-device/$b-s" && chmod +x "/tmp/keta-device/$b-s"
        done
        for rep in 1 2; do
            for z in "$here"/bin/keta*.gz; do
                b=$(basename "$z" .gz); k="/tmp/keta-device/$b-s"
                t() { "$k" train mdm --data "$d/data" --device cuda "$@" > /dev/null 2>&1; }
                t --out "$d/$b-1-$rep" --config "$d/ref-1.json"; rate "$b 1 GPU (rep $rep)" "$d/$b-1-$rep/train_log.jsonl"
                t --out "$d/$b-$n-$rep" --config "$d/ref-$n.json" --gpus "$n"
                rate "$b $n GPUs (rep $rep)" "$d/$b-$n-$rep/train_log.jsonl"
                for i in $(seq 0 $((n - 1))); do
                    CUDA_VISIBLE_DEVICES=$i t --out "$d/$b-lone-$rep-$i" --config "$d/ref-1.json" & 
                done
                wait; rate "$b $n lone runs at once (rep $rep)" "$d/$b-lone-$rep"-*/train_log.jsonl
            done
        done 2>&1 | tee "$OUT/scaling.txt"
        # NCCL alone: all-reduce of 20 M fp32 values (the reference model's gradient) on N GPUs.
        python3 - "$n" <<'PY' 2>&1 | grep -v Warning | tee -a "$OUT/scaling.txt"
import os, sys, time, torch, torch.distributed as dist, torch.multiprocessing as mp
def run(rank, world):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world)
    x = torch.randn(20_000_000, device="cuda")
    for _ in range(10): dist.all_reduce(x)
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(50): dist.all_reduce(x)
    torch.cuda.synchronize(); dt = (time.perf_counter() - t) / 50
    if rank == 0:
        print(f"torch.distributed all-reduce of 80 MB fp32 on {world} GPUs: {dt * 1e3:.3f} ms, bus bandwidth {2 * (world - 1) / world * 80e6 / dt / 1e9:.0f} GB/s")
    dist.destroy_process_group()
if __name__ == "__main__":
    n = int(sys.argv[1]); mp.start_processes(run, args=(n,), nprocs=n, start_method="fork")
PY
        ;;
    keta) exec "$keta" "$@" ;;
    *) echo "unknown task $task (smoke | bench | train-default | calibrate | ablation | long | dist | attribution | scaling | keta ARGS)" >&2; exit 2 ;;
esac
RUN
chmod +x "$stage/run.sh"
du -sh "$stage" >&2
echo "device: staged in .device/; on the GPU machine run: .device/run.sh smoke  (carry .device)" >&2
