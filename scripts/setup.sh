#!/usr/bin/env bash
# Create .venv and install tunekit with its pinned dependencies, the default model and the quick-start data.
# Idempotent: a second run only checks a stamp (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  # torch first, pinned: the CPU wheel on this machine's disk (anything looser pulls a multi-GB CUDA build)
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e ".[models,quickstart,dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
