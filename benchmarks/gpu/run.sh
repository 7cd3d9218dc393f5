#!/usr/bin/env bash
# The neural-operator GPU benchmarks on the device machine (repository root; the device tool
# sets $OUT and carries .whl/ from benchmarks/gpu/fetch_wheels.sh). Writes one JSON per run
# under $OUT, plus $OUT/log.txt (all output). Data live in /tmp/rom-gpu: reused while the
# machine stays warm, regenerated (16 processes) on a bare one.
#
#   benchmarks/gpu/run.sh [--dry-run] STAGE [STAGE ...]   (stages run in order; a failed
#                                                         one is reported, the next one runs)
#
# The 15-device-minute plan (docs/operators.md, "GPU benchmark runbook"): two calls.
#   a         Darcy 85^2, 1000/200, rom FNO vs neuraloperator FNO at equal parameters:
#             data (16 processes, ~20 s); NS data started in the background on the idle
#             cores (NS=1, the default); interleaved step throughput eager, then both
#             compiled (CUDA graphs); then each trained $EPOCHS epochs (default 100, lr
#             halved every EPOCHS/5) and its test error (< 7 min in all, budget-guarded)
#   b         Navier-Stokes nu=1e-5 64^2 10 -> 10: waits for a's background data, trains
#             rom's FNO $NS_EPOCHS epochs (default 50) within $NS_BUDGET_S (120 s)
# Older single stages (each < 9 min, for a 30-minute session):
#   check     GPU smoke test: trainer options on CUDA (pytest), operators.py --quick on cuda
#   fno-step  Darcy data + interleaved step throughput (ops, eager, ours compiled, both)
#   fno / neuralop / lsm   the FNO paper's setting, 500 epochs, --budget-s 420
#   ns|ns-lsm Navier-Stokes data + one model;  scot: scOT sample efficiency
#
# --dry-run prints each command instead of running it (nothing installed, nothing written);
# SMOKE=1 DEVICE=cpu WORKERS=2 runs the same commands here with --quick (minutes, CPU).
set -uo pipefail
DRY=0
[ "${1:-}" = "--dry-run" ] && { DRY=1; shift; }
[ $# -ge 1 ] || { echo "usage: benchmarks/gpu/run.sh [--dry-run] a|b|check|fno-step|fno|neuralop|lsm|ns|ns-lsm|scot ..." >&2; exit 2; }
OUT=${OUT:-/tmp/rom-gpu-out}
DATA=${DATA:-/tmp/rom-gpu}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
PY=${PY:-python3}
SMOKE=${SMOKE:-0}
EPOCHS=${EPOCHS:-100}
if [ "$DRY" = 1 ]; then
    "$PY" -c pass 2>/dev/null || PY=python3
else
mkdir -p "$OUT" "$DATA"

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
fi

COMMON=(--device "${DEVICE:-cuda}" --workers "${WORKERS:-16}" --data-dir "$DATA")
REF=(--no-venv "${NO_VENV:-/tmp/no-venv}")  # neuraloperator: /tmp/site on the device, or a venv
FAST=(--compile reduce-overhead --data-on-device)
if [ "$SMOKE" = 1 ]; then  # the same commands, tiny: --quick presets, fixed short schedules
    PRESET=(--quick); SCHED=(); NS_SCHED=(); STEPS=(--rounds 2); REFC=()
else
    PRESET=(--paper); STEPS=(--rounds 5); REFC=(--compile-neuralop reduce-overhead)
    SCHED=(--epochs "$EPOCHS" --scheduler step --step-size $(( EPOCHS / 5 > 0 ? EPOCHS / 5 : 1 )))
    NS_SCHED=(--epochs "${NS_EPOCHS:-50}" --scheduler cosine)
fi
[ "${DEVICE:-cuda}" = cpu ] && FAST=()
run() {  # run NAME ARGS...: log to $OUT/NAME.log, JSON to $OUT/NAME.json
    local name=$1; shift
    if [ "$DRY" = 1 ]; then echo "$PY $* --json $OUT/$name.json"; return 0; fi
    echo "== $name: $* ($(date -u +%T))"
    "$PY" "$@" --json "$OUT/$name.json" 2>&1 | tee -a "$OUT/log.txt" | grep -v '^{"setting'
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "== $name FAILED (exit $rc)"; FAILED=1; }
}

ns_data() {  # ns_data ARGS...: the NS file of operators_ns.py ARGS (generated unless present)
    "$PY" - "$@" <<'PYEOF'
import sys
from pathlib import Path
sys.path[:0] = ["benchmarks", "."]
import operator_common as bench
import operators_ns as ns
args = ns.parse_args(sys.argv[1:])
n = args.n_train + args.n_test
name = f"ns_nu{args.nu:g}_{args.resolution}_dt{args.dt:g}_n{n}.h5"
bench.ensure_dataset(Path(args.data_dir) / name, "navier_stokes", n, args.resolution, seed=0,
                     params=ns.ns_params(args), workers=args.workers)
PYEOF
}

FAILED=0
for STAGE in "$@"; do
case "$STAGE" in
a)  # Darcy: rom FNO vs neuraloperator, equal parameters (see the header)
    run darcy-step-eager benchmarks/operators.py "${PRESET[@]}" --part step "${COMMON[@]}" \
        "${REF[@]}" "${STEPS[@]}"
    if [ "${NS:-1}" = 1 ]; then  # NS data on the CPU cores while the GPU trains Darcy
        NSARGS=("${PRESET[@]}" --device "${DEVICE:-cuda}" --workers "${NS_WORKERS:-14}" \
                --data-dir "$DATA")
        if [ "$DRY" = 1 ]; then echo "ns_data ${NSARGS[*]} &  (background)"
        else ns_data "${NSARGS[@]}" > "$OUT/ns-data.log" 2>&1 & fi
    fi
    run darcy-step-compiled benchmarks/operators.py "${PRESET[@]}" --part step "${COMMON[@]}" "${REF[@]}" \
        "${STEPS[@]}" "${FAST[@]:0:2}" "${REFC[@]}"
    run darcy-fno benchmarks/operators.py "${PRESET[@]}" --part rom "${COMMON[@]}" "${FAST[@]}" \
        "${SCHED[@]}" --budget-s "${BUDGET_S:-120}"
    run darcy-neuralop benchmarks/operators.py "${PRESET[@]}" --part neuraloperator \
        "${COMMON[@]}" "${REF[@]}" "${FAST[@]:2}" "${SCHED[@]}" --budget-s "${BUDGET_S:-120}" ;;
b)  # NS nu=1e-5 10 -> 10 on a's background data (or generated now)
    [ "$DRY" = 1 ] || wait
    run ns-fno benchmarks/operators_ns.py "${PRESET[@]}" --models fno "${COMMON[@]}" \
        "${FAST[@]}" "${NS_SCHED[@]}" --budget-s "${NS_BUDGET_S:-120}" ;;
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
