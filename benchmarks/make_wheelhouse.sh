#!/usr/bin/env bash
# Download, here (with network), the wheels benchmarks/device_check.sh installs on a GPU
# machine that has JAX but no network: Keras and the two Keras dependencies such images
# lack (namex; optree, the one compiled wheel). About 2 MB in all.
#
#   benchmarks/make_wheelhouse.sh [FOLDER] [PYTHON_VERSION]   # default: .whl 3.12
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-.whl}
version=${2:-3.12}
mkdir -p "$folder"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$folder" "${KERAS_REQUIREMENT:-keras>=3.5}" namex optree
du -sh "$folder"
ls "$folder"
