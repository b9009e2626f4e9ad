#!/usr/bin/env bash
# Wheels for the GPU machine (Python 3.12 with torch, no network), built here into .wheels/ (ignored
# by git; carry it with the working tree). tools/gpu_runs.sh installs them with pip --no-index.
#   bash tools/gpu_wheels.sh                 # learn2learn 0.2.0, gym 0.26.2, gym-notices 0.0.8
#   bash tools/gpu_wheels.sh tqdm hypothesis # and these too, when gpu_runs.sh says they are missing
# learn2learn ships stale Cython output (upstream #413), so its wheel is built with Cython re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON312=${PYTHON312:-python3.12}
command -v "$PYTHON312" >/dev/null || { echo "gpu_wheels: $PYTHON312 not found (set PYTHON312)" >&2; exit 1; }
mkdir -p .wheels
"$PYTHON312" -m pip wheel --quiet --no-deps --use-pep517 --wheel-dir .wheels \
  --config-settings="--build-option=build_ext" learn2learn==0.2.0
"$PYTHON312" -m pip download --quiet --no-deps --dest .wheels gym==0.26.2 gym-notices==0.0.8 "$@"
ls -la .wheels
