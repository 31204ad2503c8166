#!/usr/bin/env bash
# Set up (idempotent), then run the offline test suite (tiny models built in the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pytest -n 2 "$@"
