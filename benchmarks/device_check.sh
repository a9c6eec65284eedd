#!/usr/bin/env bash
# The GPU check, offline: on a machine with a GPU, JAX and no TensorFlow, run the jax-gpu
# preset (Keras' JAX backend on the GPU, rounds, report) and the JAX fidelity check.
#
#   benchmarks/device_check.sh [WHEELHOUSE]      # default: .whl (see make_wheelhouse.sh)
#
# Needs: python3 with jax (GPU build), numpy, pandas, matplotlib, scipy, psutil, rich,
# tabulate; Keras and what it needs beyond those come from the wheelhouse, installed into
# a private folder (nothing is fetched, the system site-packages are untouched).
# Output: $BLOCKBENCH_OUT (default results-device); the report's path is printed last.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${1:-.whl}
python=${PYTHON:-python3}
site=${TMPDIR:-/tmp}/blockbench-site
if compgen -G "$wheels/*.whl" >/dev/null; then
    "$python" -m pip install --quiet --no-index --no-deps --no-compile --upgrade \
        --target "$site" "$wheels"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
out=${BLOCKBENCH_OUT:-results-device}

"$python" - <<'PY'
import importlib.util, sys
needed = ["jax", "keras", "numpy", "pandas", "matplotlib", "scipy", "psutil", "rich",
          "tabulate", "optree", "namex"]
missing = [name for name in needed if importlib.util.find_spec(name) is None]
if missing:
    sys.exit(f"device_check: missing modules: {', '.join(missing)} "
             "(make a wheelhouse with benchmarks/make_wheelhouse.sh and pass its folder)")
import jax
gpus = [d for d in jax.devices() if d.platform == "gpu"]
print(f"jax {jax.__version__}: {gpus or 'NO GPU VISIBLE: every gpu cell will be skipped'}")
PY

"$python" -m blockbench --out "$out" run jax-gpu --new | tee "$out.log"
"$python" benchmarks/fidelity_backends.py --device gpu
run_id=$(awk '/^run id:/ {print $3}' "$out.log" | tail -1)
echo "report: $out/$run_id/report.md"
