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
