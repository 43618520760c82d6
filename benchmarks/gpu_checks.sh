#!/usr/bin/env bash
# Issue 7 on a GPU, in one call, with Keras on JAX (the lent GPU machine has JAX and PyTorch, no
# TensorFlow and no network):
#
#     bash benchmarks/gpu_checks.sh [OUT_DIR [JOB...]]   JOB: train, profile, video or all (default)
#
# (several JOBs run in the order below, e.g. `train video`).
#
# - train (item 1): the S-MIL-T training step against the bare Xception in the issue's setting
#   (299 px, 32 bags x 8 faces = 256 faces per step, XLA), in bfloat16 and in float32; a few
#   minutes on an H100 (two compilations per precision). Tables: OUT_DIR/train_<precision>.md.
# - profile (item 1's bottleneck): `train_profile.py`, the bf16 steps of both models under JAX's
#   profiler: device busy and idle time per step, and the kernels the detector adds. Table:
#   OUT_DIR/profile.md (PROFILE_ARGS replaces its arguments).
# - video (items 3 and 4): `predict_speed.py` (Xception, the 10 s 1080p fixture, 20 frames) and
#   `extract_speed.py` (720p and 1080p), MTCNN and the detector on the GPU. Tables:
#   OUT_DIR/predict.md, OUT_DIR/extract.md. It reads the fixture videos from SMIL_FIXTURES
#   (copy the three `extract_speed.py` videos into an ignored folder of the checkout and point
#   SMIL_FIXTURES at it there: ../shared does not travel).
#
# OUT_DIR defaults to benchmarks/gpu_results. TRAIN_ARGS, PREDICT_ARGS and EXTRACT_ARGS replace
# each script's arguments, e.g. a quick CPU rehearsal of the training step:
#     TRAIN_ARGS="--backbone tiny --image-size 32 --bags 2 --steps 1" bash benchmarks/gpu_checks.sh /tmp/gpu train
#
# Packages missing there travel as wheels in .whl/, fetched beforehand where pip works:
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#         --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#         -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0 mtcnn==1.0.0 lz4==4.4.5
# (Keras for every job; mtcnn, for MTCNN's weights, and lz4, to read them, for the video job.)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/gpu_results}
jobs=("${@:2}")
[[ ${#jobs[@]} -gt 0 ]] || jobs=(all)
for job in "${jobs[@]}"; do
    case $job in train|profile|video|all) ;; *) echo "JOB must be train, profile, video or all, not '$job'" >&2; exit 2 ;; esac
done
runs() { [[ " ${jobs[*]} " == *" $1 "* || " ${jobs[*]} " == *" all "* ]]; }  # job $1 asked for?
mkdir -p "$out"
if ! python3 -c "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ('keras', 'mtcnn', 'lz4'))))"; then
    ls .whl/*.whl >/dev/null 2>&1 || { echo "Keras or mtcnn is missing and .whl/ holds no wheels (see the header of $0)" >&2; exit 2; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/smil_site .whl/*.whl
    export PYTHONPATH=/tmp/smil_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
if runs train; then
    for precision in mixed_bfloat16 float32; do
        # shellcheck disable=SC2086  # word splitting of the argument strings is intended
        python3 benchmarks/train_speed.py ${TRAIN_ARGS:---backbone xception --image-size 299 \
            --bags 32 --faces-per-bag 8 --jit on --repeats 5} --precision "$precision" \
            | tee "$out/train_$precision.md"
    done
fi
if runs profile; then
    # shellcheck disable=SC2086
    python3 benchmarks/train_profile.py ${PROFILE_ARGS:---backbone xception --image-size 299 \
        --bags 32 --faces-per-bag 8 --jit on --precision mixed_bfloat16 --steps 5} \
        | tee "$out/profile.md"
fi
if runs video; then
    # shellcheck disable=SC2086
    python3 benchmarks/predict_speed.py ${PREDICT_ARGS:---backbones xception --repeats 5} \
        | tee "$out/predict.md"
    # shellcheck disable=SC2086
    python3 benchmarks/extract_speed.py ${EXTRACT_ARGS:---videos 720p 1080p} | tee "$out/extract.md"
fi
