#!/usr/bin/env bash
# One stage of the neural-operator GPU benchmarks per call, on the device machine
# (repository root; the device tool sets $OUT and carries .whl/ from
# benchmarks/gpu/fetch_wheels.sh). Every stage is sized for < 9 minutes on an H100
# (training runs carry a --budget-s guard) and writes one JSON per run under $OUT,
# plus $OUT/log.txt (all output). DEVICE=cpu WORKERS=2 run the stages here (slowly). Data live in /tmp/rom-gpu: a stage reuses
# them while the machine stays warm and regenerates them (16 processes) on a bare one.
#
#   benchmarks/gpu/run.sh STAGE [STAGE ...]     (stages run in order; a failed one
#                                                is reported and the next one runs)
#
# Stages, in the order of docs/operators.md's runbook:
#   check     GPU smoke test: trainer options on CUDA (pytest), operators.py --quick on cuda
#   fno-step  Darcy 85^2 data + interleaved step throughput, rom vs neuraloperator
#             (eager fp32, then rom compiled, then both compiled)
#   fno       rom FNO, FNO paper setting (1000/200, 500 epochs), compiled, data on GPU
#   neuralop  neuraloperator 2.0.0 FNO, same data, split, statistics and loop settings
#   lsm       LSM, same setting
#   ns        Navier-Stokes nu=1e-5 64^2 10 -> 10: data + FNO-2D (epochs: $NS_EPOCHS)
#   ns-lsm    the same data + LSM
#   scot      scOT sample efficiency (pretrain wave, fine-tune heat; 32..512 trajectories)
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: benchmarks/gpu/run.sh check|fno-step|fno|neuralop|lsm|ns|ns-lsm|scot ..." >&2; exit 2; }
OUT=${OUT:-/tmp/rom-gpu-out}
DATA=${DATA:-/tmp/rom-gpu}
mkdir -p "$OUT" "$DATA"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
PY=${PY:-python3}

if [ ! -f /tmp/site/.rom-installed ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && touch /tmp/site/.rom-installed
fi
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
    >> "$OUT/log.txt" 2>&1 || true
"$PY" -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-'); \
import neuralop; print('neuralop', neuralop.__version__)" 2>&1 | tee -a "$OUT/log.txt" || true

COMMON=(--device "${DEVICE:-cuda}" --workers "${WORKERS:-16}" --data-dir "$DATA")
FAST=(--compile reduce-overhead --data-on-device)
run() {  # run NAME ARGS...: log to $OUT/NAME.log, JSON to $OUT/NAME.json
    local name=$1; shift
    echo "== $name: $* ($(date -u +%T))"
    "$PY" "$@" --json "$OUT/$name.json" 2>&1 | tee -a "$OUT/log.txt" | grep -v '^{"setting'
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "== $name FAILED (exit $rc)"; FAILED=1; }
}

FAILED=0
for STAGE in "$@"; do
case "$STAGE" in
check)
    "$PY" -m pytest -q -x -p no:cacheprovider tests/operators/test_gpu_prep.py tests/operators/test_trainer.py \
        2>&1 | tail -3 | tee -a "$OUT/log.txt"
    run check benchmarks/operators.py --quick "${COMMON[@]}" "${FAST[@]}" --amp bf16 ;;
fno-step)
    run fno-ops benchmarks/operators.py --paper --part ops "${COMMON[@]}"
    run fno-step-eager benchmarks/operators.py --paper --part step "${COMMON[@]}" --rounds 5
    run fno-step-compiled benchmarks/operators.py --paper --part step "${COMMON[@]}" \
        --rounds 5 --compile reduce-overhead
    run fno-step-both-compiled benchmarks/operators.py --paper --part step "${COMMON[@]}" \
        --rounds 5 --compile reduce-overhead --compile-neuralop reduce-overhead ;;
fno)
    run fno benchmarks/operators.py --paper --part rom "${COMMON[@]}" "${FAST[@]}" --budget-s 420 ;;
neuralop)
    run neuralop benchmarks/operators.py --paper --part neuraloperator "${COMMON[@]}" \
        --data-on-device --budget-s 420 ;;
lsm)
    run lsm benchmarks/operators_models.py --paper --models lsm "${COMMON[@]}" "${FAST[@]}" \
        --budget-s 420 ;;
ns|ns-lsm)  # data (1,200 trajectories, ~5 min on 16 cores) + one model, < 9 min
    model=fno; [ "$STAGE" = ns-lsm ] && model=lsm
    run "ns-$model" benchmarks/operators_ns.py --paper --models "$model" "${COMMON[@]}" \
        "${FAST[@]}" --epochs "${NS_EPOCHS:-100}" --scheduler cosine \
        --budget-s "${NS_BUDGET_S:-180}" ;;
scot)
    # no --compile: 16 training runs would each pay the compilation
    run scot benchmarks/operators_sample_efficiency.py --paper "${COMMON[@]}" --data-on-device \
        --budget-s "${SCOT_BUDGET_S:-20}" ;;
*)
    echo "unknown stage $STAGE" >&2; FAILED=1 ;;
esac
done
exit $FAILED
