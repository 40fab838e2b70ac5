#!/usr/bin/env bash
# The #7 ablation (docs/RESULTS.md): on one synthetic data set and one step budget, train plain MDM,
# KETA encoder (auxiliary loss, lambda 1e-4 and 1e-3) and KETA decoder (auxiliary loss 1e-3 + guide
# tokens), then score each with `keta eval` (the decoder with 0 and 2 refinement rounds) against our
# own evaluator, and write one table.
#
#   scripts/ablation.sh KETA OUT                  # environment knobs below
#     CFG=configs/ablation   (configs/ablation/tiny: the CPU dry run)
#     GPUS="0 1 2 3"         one job per GPU at a time; "cpu" runs everything in turn on the CPU
#     COUNT=8000 REPS=20 MM_REPS=5 KP_REPS=20 MAX_MOTIONS=1000 PRECISION=bf16
#
# Writes OUT/data, OUT/<arm>/ (training runs), OUT/eval/<row>.json|.md, OUT/logs/*.log and
# OUT/ablation.md. Jobs run in the background, each on its own GPU; a failed job fails the script.
# Rerunning continues: finished jobs (OUT/logs/NAME.done) are skipped and interrupted training
# runs resume from their last checkpoint, so the ablation can span several device calls.
set -euo pipefail
keta="$1"; out="$2"
cfg="${CFG:-configs/ablation}"
read -r -a gpus <<< "${GPUS:-0 1 2 3}"
count="${COUNT:-8000}"; reps="${REPS:-20}"; mm_reps="${MM_REPS:-5}"; kp_reps="${KP_REPS:-$reps}"
precision="${PRECISION:-bf16}"; max_motions="${MAX_MOTIONS:-1000}"
mkdir -p "$out/logs" "$out/eval"
say() { printf 'ablation %s: %s\n' "$(date +%T)" "$*" >&2; }

# job NAME GPU CMD...: runs CMD on GPU (or the CPU) in the background, logging to logs/NAME.log.
declare -A pid
job() {
    local name="$1" gpu="$2"; shift 2
    [[ -f "$out/logs/$name.done" ]] && { say "skip $name (done)"; return 0; }
    local device=cuda extra=()
    [[ "$gpu" == cpu ]] && device=cpu
    # A training run cut short by an earlier call resumes from its last checkpoint.
    [[ "$1" == train && -f "$out/$name/latest" ]] && extra=(--resume)
    say "start $name on ${gpu} ${extra[*]}"
    ( if [[ "$gpu" != cpu ]]; then export CUDA_VISIBLE_DEVICES="$gpu"; fi
      "$@" "${extra[@]}" --device "$device" >> "$out/logs/$name.log" 2>&1 && touch "$out/logs/$name.done" ) &
    pid[$name]=$!
    [[ "$gpu" == cpu ]] && finish "$name"
    return 0
}
finish() {
    local name="$1"
    [[ -z "${pid[$name]:-}" ]] && return 0
    if ! wait "${pid[$name]}"; then
        say "$name FAILED; its log ends:"; tail -n 20 "$out/logs/$name.log" >&2; exit 1
    fi
    unset "pid[$name]"
    say "done $name"
}
gpu() { echo "${gpus[$(( $1 % ${#gpus[@]} ))]}"; }

say "synthetic data: $count clips"
[[ -f "$out/data/test.txt" ]] || "$keta" data synth --out "$out/data" --count "$count" --seed 0 > "$out/logs/synth.log" 2>&1
train() { "$keta" train "$@" --data "$out/data"; }
evaluate() {
    local row="$1" model="$2"; shift 2
    "$keta" eval --model "$model" --data "$out/data" --evaluator "$out/evaluator" \
        --replications "$reps" --mm-replications "$mm_reps" --kp-replications "$kp_reps" \
        --max-motions "$max_motions" --precision "$precision" --out "$out/eval/$row.json" "$@"
}

# Phase 1: the aligner and the evaluator (needed by the rest) beside plain MDM.
job aligner "$(gpu 0)" train aligner --out "$out/aligner" --config "$cfg/aligner.json"
job evaluator "$(gpu 1)" train evaluator --out "$out/evaluator" --config "$cfg/evaluator.json"
job mdm "$(gpu 2)" train mdm --out "$out/mdm" --config "$cfg/encoder.json"
finish aligner
# Phase 2: the KETA arms, as GPUs free up.
job keta-enc-1e-4 "$(gpu 0)" train mdm --out "$out/keta-enc-1e-4" --config "$cfg/encoder.json" \
    --lambda-kp 0.0001 --aligner "$out/aligner"
job keta-enc-1e-3 "$(gpu 3)" train mdm --out "$out/keta-enc-1e-3" --config "$cfg/encoder.json" \
    --lambda-kp 0.001 --aligner "$out/aligner"
finish evaluator
job keta-dec "$(gpu 1)" train mdm --out "$out/keta-dec" --config "$cfg/decoder.json" \
    --lambda-kp 0.001 --aligner "$out/aligner"
# Phase 3: evaluation, each row on the GPU its model trained on.
finish mdm
job eval-mdm "$(gpu 2)" evaluate mdm "$out/mdm"
finish keta-enc-1e-4
job eval-keta-enc-1e-4 "$(gpu 0)" evaluate keta-enc-1e-4 "$out/keta-enc-1e-4"
finish keta-enc-1e-3
job eval-keta-enc-1e-3 "$(gpu 3)" evaluate keta-enc-1e-3 "$out/keta-enc-1e-3"
finish keta-dec
job eval-keta-dec "$(gpu 1)" evaluate keta-dec "$out/keta-dec"
finish eval-mdm
job eval-keta-dec-refine2 "$(gpu 2)" evaluate keta-dec-refine2 "$out/keta-dec" --refine-rounds 2
for name in eval-keta-enc-1e-4 eval-keta-enc-1e-3 eval-keta-dec eval-keta-dec-refine2; do
    [[ "${gpus[0]}" == cpu ]] || finish "$name"
done

# The table: the real clips once (from the plain MDM report), then one row per model.
python3 - "$out" > "$out/ablation.md" <<'PY'
import json, sys
out = sys.argv[1]
rows = ["mdm", "keta-enc-1e-4", "keta-enc-1e-3", "keta-dec", "keta-dec-refine2"]
names = {"mdm": "MDM (encoder)", "keta-enc-1e-4": "KETA encoder, lambda 1e-4",
         "keta-enc-1e-3": "KETA encoder, lambda 1e-3", "keta-dec": "KETA decoder, 0 rounds",
         "keta-dec-refine2": "KETA decoder, 2 rounds"}
cols = [("r_precision_top1", "top-1"), ("r_precision_top2", "top-2"), ("r_precision_top3", "top-3"),
        ("fid", "FID"), ("mm_dist", "MM-Dist"), ("diversity", "Diversity"),
        ("multimodality", "MModality"), ("kp_accuracy", "KP acc.")]
def cell(m):
    return "-" if m is None else f"{m['mean']:.3f} ± {m['interval95']:.3f}"
reports = {r: json.load(open(f"{out}/eval/{r}.json")) for r in rows}
first = reports["mdm"]["report"]
print("| | " + " | ".join(c[1] for c in cols) + " | non-finite |")
print("|---" * (len(cols) + 2) + "|")
print("| real test clips | " + " | ".join(cell(first["ground_truth"].get(k)) for k, _ in cols) + " | - |")
for r in rows:
    m = reports[r]["report"]["model"]
    print(f"| {names[r]} | " + " | ".join(cell(m.get(k)) for k, _ in cols) + f" | {m['non_finite_motions']} |")
print()
print(f"{first['replications']} replications of {first['motions_per_replication']} test clips; "
      f"evaluator: {first['evaluator']}; sampling: {json.dumps(first['sampling'])}; "
      f"precision: {reports['mdm']['precision']}; device: {reports['mdm']['device']}.")
for r in rows:
    t = reports[r]["report"]["timing"]
    print(f"- {r}: evaluation {t['total_s']:.0f} s (generation {t['generate_s']:.0f} s, MultiModality {t['multimodality_s']:.0f} s, KP {t['kp_s']:.0f} s)")
PY
say "table in $out/ablation.md"
cat "$out/ablation.md"
