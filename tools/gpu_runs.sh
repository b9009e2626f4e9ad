#!/usr/bin/env bash
# The GPU runbook: everything chapters 2, 3 and 4 still lack from a GPU, in one command and at most
# 10 minutes of wall time, each step under its own time limit.
#
#   bash tools/gpu_runs.sh              # on a machine with a CUDA GPU (see "On the GPU machine")
#   bash tools/gpu_runs.sh --dry-run    # the same steps at tiny sizes on the CPU (CI runs this)
#
# Steps (seconds allowed on the GPU):
#   1. the CUDA parametrisations of the unit tests (pytest -k cuda)                            90
#   2. benchmarks/maml_speed.py --device cuda        -> results/benchmarks/maml_speed_cuda.json 150
#   3. benchmarks/protonet_speed.py --device cuda    -> results/benchmarks/protonet_speed_cuda.json 60
#   4. experiments/metric_omniglot.py, cut: the 4 methods x 4 settings, 2,000 training steps
#      (the full budget: 20,000) and 1,000 test episodes -> results/metric_omniglot_gpu.json     150
#   5. experiments/optimization_omniglot.py, cut: the 5 methods at 5-way 1-shot and 20-way
#      1-shot, 1,000 meta-steps (full: 60,000) and 600 test episodes
#      -> results/optimization_omniglot_gpu.json                                                150
#   6. benchmarks/multitask_speed.py --device cuda -> results/benchmarks/multitask_speed_cuda.json 30
#   7. benchmarks/distributed_speed.py --device cuda --processes 1 N, N the GPUs present (one
#      process per GPU under torchrun, NCCL) -> results/benchmarks/distributed_speed_cuda.json      60
#      (last: if the steps above use all their time, these are the ones the 10 minutes cut)
# A step that runs out of time is reported and stores nothing; the others still run. The chapters
# read the JSON files (chapter 2: multitask_speed_cuda; chapter 3: metric_omniglot_gpu; chapter 4:
# maml_speed_cuda, optimization_omniglot_gpu): commit them and re-run `bash tools/regenerate.sh
# book/02_multitask_transfer.ipynb book/03_metric_based.ipynb book/04_optimization_based.ipynb`
# on the CPU machine.
#
# On the GPU machine (Python 3.12 with torch, no network), from a checkout of this repository:
#   - learn2learn and gym come as wheels in .wheels/, built on a machine with the registries by
#     `bash tools/gpu_wheels.sh`; this script installs them with pip --no-index;
#   - Omniglot's minimal archives must be in shared/data/omniglot/ inside the checkout (or
#     METALIB_DATA): `cp -r ../shared/data/omniglot shared/data/` before carrying the tree over.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
for arg in "$@"; do
  case $arg in
    --dry-run) dry_run=1 ;;
    *) echo "gpu_runs: unknown argument $arg (use --dry-run or nothing)" >&2; exit 2 ;;
  esac
done

export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}   # metalib/threads.py; set here for pytest too
failed=()
# step NAME SECONDS COMMAND...: run one step under a time limit, report it, go on whatever happens
step() {
  local name=$1 seconds=$2 start=$SECONDS rc=0
  shift 2
  echo "=== gpu_runs: $name (at most $seconds s): $*"
  timeout --kill-after=10 "$seconds" "$@" || rc=$?
  if [[ $rc -eq 0 ]]; then
    echo "=== gpu_runs: $name done in $((SECONDS - start)) s"
  else
    [[ $rc -eq 124 || $rc -eq 137 ]] && echo "=== gpu_runs: $name ran out of its $seconds s; nothing stored" \
      || echo "=== gpu_runs: $name FAILED (exit $rc) after $((SECONDS - start)) s"
    failed+=("$name")
  fi
}

if [[ $dry_run -eq 1 ]]; then
  # The CPU, the project's environment, tiny sizes, and results written to a scratch folder.
  PYTHON=${PYTHON:-.venv/bin/python}
  export METALIB_DEVICE=cpu OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  METALIB_RESULTS=$(mktemp -d)
  export METALIB_RESULTS
  trap 'rm -rf "$METALIB_RESULTS"' EXIT
  device=cpu limit=300
  tests=(-k "cuda or device")
  maml=(--settings 5w1s --steps 1 --repeats 1 --warmup 0)
  proto=(--settings 5w1s --steps 2 --warmup 1)
  metric=(--methods proto relation --settings 5w1s --steps 2 --episodes 2 --eval-batch 2)
  optim=(--methods maml reptile --settings 5w1s --steps 1 --episodes 2 --eval-batch 2)
  multitask=(--tasks 2 --steps 1 --repeats 1 --warmup 0)
  parallel=(--processes 1 2 --settings 5w1s --steps 1 --repeats 1 --warmup 0)
else
  PYTHON=${PYTHON:-python3}
  export METALIB_DEVICE=cuda
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
    echo "gpu_runs: PyTorch sees no CUDA GPU here; run with --dry-run on a CPU machine" >&2; exit 1; }
  if [[ -d .wheels ]]; then
    "$PYTHON" -m pip install --quiet --no-index --no-deps .wheels/*.whl
  fi
  missing=$("$PYTHON" - <<'PY'
import importlib.util
need = ["numpy", "matplotlib", "sklearn", "tqdm", "pytest", "hypothesis", "learn2learn"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
PY
)
  if [[ -n $missing ]]; then
    echo "gpu_runs: missing here: $missing. Build their wheels on a machine with the registries" \
         "(bash tools/gpu_wheels.sh $missing) and carry .wheels/ over" >&2
    exit 1
  fi
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # metalib from this checkout
  device=cuda limit=0
  tests=(-k cuda)
  maml=()
  proto=(--cudnn-benchmark)
  metric=(--steps 2000 --episodes 1000)
  optim=(--settings 5w1s 20w1s --steps 1000 --episodes 600)
  multitask=(--repeats 7)   # 40 by default: the CPU's timings spread more
  gpus=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())")
  parallel=(--processes 1); [[ $gpus -gt 1 ]] && parallel=(--processes 1 "$gpus")
fi
seconds() { if [[ $limit -gt 0 ]]; then echo "$limit"; else echo "$1"; fi; }
started=$SECONDS

step "CUDA tests" "$(seconds 90)" "$PYTHON" -m pytest tests/test_metric.py tests/test_optimization.py \
  tests/test_tasks.py tests/test_device_budget.py "${tests[@]}" -q -p no:cacheprovider
step "MAML speed" "$(seconds 150)" "$PYTHON" benchmarks/maml_speed.py --device "$device" "${maml[@]}"
step "ProtoNet speed" "$(seconds 60)" "$PYTHON" benchmarks/protonet_speed.py --device "$device" "${proto[@]}"
step "metric Omniglot" "$(seconds 150)" "$PYTHON" experiments/metric_omniglot.py --device "$device" \
  --out metric_omniglot_gpu "${metric[@]}"
step "optimisation Omniglot" "$(seconds 150)" "$PYTHON" experiments/optimization_omniglot.py --device "$device" \
  --out optimization_omniglot_gpu "${optim[@]}"
step "multi-task speed" "$(seconds 30)" "$PYTHON" benchmarks/multitask_speed.py --device "$device" \
  "${multitask[@]}"
step "data-parallel speed" "$(seconds 60)" "$PYTHON" benchmarks/distributed_speed.py --device "$device" \
  "${parallel[@]}"

echo "=== gpu_runs: $((SECONDS - started)) s in all; results in ${METALIB_RESULTS:-results/}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "=== gpu_runs: not done: ${failed[*]}" >&2
  exit 1
fi
