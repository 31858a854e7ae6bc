#!/usr/bin/env bash
# Set up the test environment and run the whole test suite headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh ai,test,testmodel
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
