#!/usr/bin/env bash
# The #7 ablation (docs/RESULTS.md): on one synthetic data set and one step budget, train plain MDM,
# KETA encoder (auxiliary loss, lambda 1e-4, 1e-3 and 1) and KETA decoder (auxiliary loss 1e-3 + guide
# tokens), then score each with `keta eval` (the decoder with 0 and 2 refinement rounds) against our
# own evaluator, and write one table.
#
#   scripts/ablation.sh KETA OUT                  # environment knobs below
#     CFG=configs/ablation   (configs/ablation/tiny: the CPU dry run)
#     GPUS="0 1 2 3"         one job per GPU at a time; "cpu" runs everything in turn on the CPU
#     COUNT=8000 REPS=20 MM_REPS=5 KP_REPS=20 MAX_MOTIONS=1000 PRECISION=bf16 CHUNK=1024
#
# Writes OUT/data, OUT/<arm>/ (training runs), OUT/eval/<row>.json|.md, OUT/logs/*.log and
# OUT/ablation.md. Rerunning continues where an earlier run stopped, so the ablation can span
# several device calls.
set -euo pipefail
keta="$1"; out="$2"
cfg="${CFG:-configs/ablation}"
read -r -a gpus <<< "${GPUS:-0 1 2 3}"
count="${COUNT:-8000}"; reps="${REPS:-20}"; mm_reps="${MM_REPS:-5}"; kp_reps="${KP_REPS:-$reps}"
precision="${PRECISION:-bf16}"; max_motions="${MAX_MOTIONS:-1000}"; chunk="${CHUNK:-1024}"
mkdir -p "$out/logs" "$out/eval"
# Who runs this ablation (a later call checks it is alive before starting another).
echo $$ > "$out/running"
say() { printf 'ablation %s: %s\n' "$(date +%T)" "$*" >&2; }

# Each GPU runs a lane: its jobs in order, in one background subshell. A job waits for the jobs it
# needs (`needs`), which may run in other lanes. Finished jobs (logs/NAME.done) are skipped; a
# training run cut short by an earlier call resumes from its last checkpoint; a failed job writes
# logs/NAME.failed, which stops every lane waiting on it and fails the script.
needs() {
    for dep in "$@"; do
        until [[ -f "$out/logs/$dep.done" ]]; do
            [[ -f "$out/logs/$dep.failed" ]] && { say "$dep failed: cannot go on"; return 1; }
            sleep 2
        done
    done
}
# job NAME GPU CMD...: runs CMD on GPU (or the CPU), logging to logs/NAME.log.
job() {
    local name="$1" gpu="$2"; shift 2
    [[ -f "$out/logs/$name.done" ]] && { say "skip $name (done)"; return 0; }
    local device=cuda extra=()
    [[ "$gpu" == cpu ]] && device=cpu
    [[ "$1" == train && -f "$out/$name/latest" ]] && extra=(--resume)
    say "start $name on ${gpu} ${extra[*]}"
    rm -f "$out/logs/$name.failed"
    # GPU jobs share the host: idle OpenMP threads sleep instead of spinning.
    if ( if [[ "$gpu" != cpu ]]; then export CUDA_VISIBLE_DEVICES="$gpu" OMP_WAIT_POLICY=PASSIVE; fi
         "$@" "${extra[@]}" --device "$device" >> "$out/logs/$name.log" 2>&1 ); then
        touch "$out/logs/$name.done"; say "done $name"
    else
        touch "$out/logs/$name.failed"; say "$name FAILED; its log ends:"
        tail -n 20 "$out/logs/$name.log" >&2; return 1
    fi
}
gpu() { echo "${gpus[$(( $1 % ${#gpus[@]} ))]}"; }

say "synthetic data: $count clips"
[[ -f "$out/data/test.txt" ]] || "$keta" data synth --out "$out/data" --count "$count" --seed 0 > "$out/logs/synth.log" 2>&1
train() { "$keta" train "$@" --data "$out/data"; }
evaluate() {
    local row="$1" model="$2"; shift 2
    "$keta" eval --model "$model" --data "$out/data" --evaluator "$out/evaluator" \
        --replications "$reps" --mm-replications "$mm_reps" --kp-replications "$kp_reps" \
        --max-motions "$max_motions" --precision "$precision" --chunk "$chunk" \
        --out "$out/eval/$row.json" "$@"
}
arm() { # arm NAME LAMBDA CONFIG GPU: a KETA arm, once the aligner exists
    local name="$1" lambda="$2" config="$3" g="$4"
    needs aligner && job "$name" "$g" train mdm --out "$out/$name" --config "$cfg/$config.json" \
        --lambda-kp "$lambda" --aligner "$out/aligner"
}
row() { # row NAME MODEL GPU [ARGS]: an evaluation row, once the evaluator and the model exist
    local name="$1" model="$2" g="$3"; shift 3
    needs evaluator "$model" && job "eval-$name" "$g" evaluate "$name" "$out/$model" "$@"
}

# The jobs, each given its GPU.
aligner() { job aligner "$1" train aligner --out "$out/aligner" --config "$cfg/aligner.json"; }
evaluator() { job evaluator "$1" train evaluator --out "$out/evaluator" --config "$cfg/evaluator.json"; }
mdm() { job mdm "$1" train mdm --out "$out/mdm" --config "$cfg/encoder.json"; }
enc_1e4() { arm keta-enc-1e-4 0.0001 encoder "$1"; }
enc_1e3() { arm keta-enc-1e-3 0.001 encoder "$1"; }
enc_1() { arm keta-enc-1 1 encoder "$1"; }
dec() { arm keta-dec 0.001 decoder "$1"; }
rows_of() { # rows_of GPU NAME...: the evaluation rows of these arms, in turn
    local g="$1"; shift
    for name in "$@"; do
        case "$name" in
            keta-dec-refine2) row keta-dec-refine2 keta-dec "$g" --refine-rounds 2 ;;
            *) row "$name" "$name" "$g" ;;
        esac || return 1
    done
}
if [[ "${gpus[0]}" == cpu ]]; then
    aligner cpu && evaluator cpu && mdm cpu && enc_1e4 cpu && enc_1e3 cpu && enc_1 cpu && dec cpu &&
        rows_of cpu mdm keta-enc-1e-4 keta-enc-1e-3 keta-enc-1 keta-dec keta-dec-refine2
else
    # Four lanes, balanced for one GPU each (train steps/s on an H100: MDM 42, KETA encoder 23,
    # KETA decoder 15, aligner 21, evaluator 39); with fewer GPUs, lanes share them.
    { aligner "$(gpu 0)" && enc_1e4 "$(gpu 0)" && rows_of "$(gpu 0)" keta-enc-1e-4; } & p0=$!
    { evaluator "$(gpu 1)" && dec "$(gpu 1)" && rows_of "$(gpu 1)" keta-dec; } & p1=$!
    { mdm "$(gpu 2)" && enc_1 "$(gpu 2)" && rows_of "$(gpu 2)" mdm keta-enc-1; } & p2=$!
    { enc_1e3 "$(gpu 3)" && rows_of "$(gpu 3)" keta-enc-1e-3 keta-dec-refine2; } & p3=$!
    failed=0
    for p in $p0 $p1 $p2 $p3; do wait "$p" || failed=1; done
    [[ $failed == 0 ]] || { say "a job failed (logs/*.failed)"; exit 1; }
fi

# The table: the real clips once (from the plain MDM report), then one row per model.
python3 - "$out" > "$out/ablation.md" <<'PY'
import json, sys
out = sys.argv[1]
rows = ["mdm", "keta-enc-1e-4", "keta-enc-1e-3", "keta-enc-1", "keta-dec", "keta-dec-refine2"]
names = {"mdm": "MDM (encoder)", "keta-enc-1e-4": "KETA encoder, lambda 1e-4",
         "keta-enc-1e-3": "KETA encoder, lambda 1e-3", "keta-enc-1": "KETA encoder, lambda 1",
         "keta-dec": "KETA decoder, 0 rounds",
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
