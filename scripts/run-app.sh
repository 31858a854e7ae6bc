#!/usr/bin/env bash
# Set up fada_desk (first run builds the local AI engine, ~5 min) and start it.
# Opens the first capture device, or the bundled sample cine when none is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh ai
exec .venv/bin/fada-desk gui --sample "$@"
