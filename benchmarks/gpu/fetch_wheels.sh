#!/usr/bin/env bash
# Download the wheels the GPU machine lacks into .whl/ (ignored by git), for its
# Python 3.12 on manylinux x86_64. Run here (with PyPI access), then name `.whl`
# in the device tool's `carry`; benchmarks/gpu/run.sh installs them into /tmp/site.
#
# On the device image already: torch, numpy, scipy, h5py, click, pyyaml, tqdm,
# matplotlib, safetensors, rich, opt-einsum (see /work/.library/device/KINDS.md).
# Missing there and needed:
#   rom:            pyamg (linear solvers), meshio (grids)
#   neuraloperator: neuraloperator==2.0.0, tensorly, tensorly-torch
# neuraloperator's other requirements are not imported by its models: wandb is
# optional (try/except ImportError), zencfg/configmypy/ruamel-yaml serve its
# config files and tests only; they are left out to stay far below the 64 MiB
# the device tool carries.
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
PY=${PYTHON:-.venv/bin/python}
mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl neuraloperator==2.0.0 tensorly==0.10.0 tensorly-torch==0.5.0 pyamg==5.4.1 meshio==5.3.5
ls -l .whl
du -sh .whl
total=$(du -sm .whl | cut -f1)
if [ "$total" -gt 60 ]; then
    echo "error: .whl is ${total} MiB (limit 60)" >&2
    exit 1
fi
