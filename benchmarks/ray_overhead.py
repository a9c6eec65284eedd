"""What the Ray executor costs on one machine: the same fit cells run by the local runner
and by a local Ray cluster (``ray.init(num_cpus=N)``), each into its own fresh store, wall
time and results side by side. On a 2-core machine expect no speed-up (two tasks share two
cores, and each TensorFlow worker already uses both): the difference is Ray's overhead.

Run: python benchmarks/ray_overhead.py [CONFIG] [--cpus 2]   (default: the quick preset's
fit cells; needs the ray and cpu extras, e.g. in `tox -e ray`'s env; run it alone)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from bench.orchestrate.ray_executor import RayExecutor
from bench.orchestrate.runner import Runner
from bench.results.store import Store, store_path
from bench.spec.config import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default="quick")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    args = parser.parse_args()
    spec = load(args.config)
    fits = [c for c in spec.cells if c.pass_ == "fit"]
    rows = []
    for name in ("local", "ray"):
        out = Path(tempfile.mkdtemp(prefix=f"blockbench-{name}-"))
        with Store(store_path(out)) as store:
            runner = Runner(store, out)
            run_id = runner.prepare(spec, new=True)
            if name == "ray":
                runner = RayExecutor(store, out, local_cpus=args.cpus)
                runner.connect()  # start the local cluster outside the timed part
            start = time.perf_counter()
            summary = runner.run(spec, run_id, cells=fits)
            wall = time.perf_counter() - start
            statuses = {}
            for item in store.cells(run_id):
                statuses[item.result.status] = statuses.get(item.result.status, 0) + 1
        rows.append({"executor": name, "fit cells": len(fits), "wall": f"{wall:.1f} s",
                     "cells' own time": f"{summary.cells_s:.1f} s", "statuses": statuses,
                     "store": str(out)})  # fmt: skip
        print(tabulate(rows, headers="keys", tablefmt="github"), flush=True)
    local, ray = (float(r["wall"].split()[0]) for r in rows)
    print(f"\nray / local wall time: {ray / local:.2f}x")


if __name__ == "__main__":
    main()
