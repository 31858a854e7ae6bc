#!/usr/bin/env bash
# Create/refresh .venv with fada_desk and the given extras. Idempotent: a stamp
# keyed on pyproject.toml + extras skips the pip step when nothing changed.
# Usage: scripts/setup-env.sh [EXTRAS]   e.g. scripts/setup-env.sh ai,test,testmodel
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-ai}"
PY="${PYTHON:-python3}"

# Qt needs a few shared libraries even offscreen; install them when we can (root on Debian/Ubuntu).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=()
  for pkg in libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.fada-stamp-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # Portable llama.cpp build: the native build crashes in the AMX matmul on some CPUs.
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
  # torch is pinned to the CPU build; install it first so nothing pulls a CUDA build.
  if [[ ",$extras," == *",testmodel,"* ]]; then
    .venv/bin/python -m pip install -q "torch==2.13.0"
  fi
  .venv/bin/python -m pip install -q -e ".[${extras}]"
  rm -f .venv/.fada-stamp-*
  touch "$stamp"
fi

# The test suite's tiny random-weight FADA twin (GGUF + mmproj, ~3 MB): built once here, while
# PyPI is reachable (the converter comes from llama-cpp-python's sdist), so the tests run offline.
if [[ ",$extras," == *",testmodel,"* ]]; then
  .venv/bin/python -m devtools.tiny_model > .venv/tiny_model.log 2>&1 || { cat .venv/tiny_model.log; exit 1; }
fi
