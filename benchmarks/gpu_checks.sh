#!/usr/bin/env bash
# Issue 7, item 1 on a GPU: the S-MIL-T training step against the bare Xception, in the issue's
# setting (299 px, 32 bags x 8 faces = 256 faces per step, XLA), in bfloat16 and in float32,
# with Keras on JAX. One call of a few minutes on an H100 (two compilations per precision).
#
#     bash benchmarks/gpu_checks.sh [OUT_DIR] [extra train_speed.py arguments]
#
# Each table goes to OUT_DIR/train_<precision>.md (default benchmarks/gpu_results) and to the
# output. Extra arguments override the issue's setting, e.g. a quick CPU rehearsal:
#     bash benchmarks/gpu_checks.sh /tmp/gpu --backbone tiny --image-size 32 --bags 2 --steps 1
#
# Machines with JAX but no Keras (the lent GPU machine has JAX and PyTorch, no TensorFlow and
# no network) take Keras as wheels in .whl/, fetched beforehand where pip works:
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#         --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#         -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0
# TensorFlow is not needed: train_speed.py imports only smil_keras.models.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/gpu_results}
shift || true
mkdir -p "$out"
if ! python3 -c "import keras" 2>/dev/null; then
    ls .whl/*.whl >/dev/null 2>&1 || { echo "Keras is not installed and .whl/ holds no wheels (see the header of $0)" >&2; exit 2; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/smil_site .whl/*.whl
    export PYTHONPATH=/tmp/smil_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
for precision in mixed_bfloat16 float32; do
    python3 benchmarks/train_speed.py --backbone xception --image-size 299 --bags 32 \
        --faces-per-bag 8 --precision "$precision" --jit on --repeats 5 "$@" \
        | tee "$out/train_$precision.md"
done
