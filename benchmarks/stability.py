"""Stability: two smoke runs back to back; each run's median IQR/median over its cells.

The target is below 10% for both runs. Also prints how far the two runs' medians agree.

Run: python benchmarks/stability.py [--preset smoke] [--out DIR]   (run it alone)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.results.stats import Stats
from bench.results.store import Store, store_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="blockbench-stability-"))
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-m", "bench.cli", "--out", str(out), "run", args.preset, "--new",
             "--no-report", "--quiet"],
            check=True,
        )  # fmt: skip
    with Store(store_path(out)) as store:
        runs = store.runs()[-2:]
        medians = []
        for run in runs:
            timing = {
                s.cell.cell_id: Stats.from_samples(s.result.timing.samples_s)
                for s in store.cells(run.run_id)
                if s.result.timing is not None
            }
            noise = statistics.median(s.relative_iqr for s in timing.values())
            worst = max(s.relative_iqr for s in timing.values())
            print(f"{run.run_id}: {len(timing)} timing cells, median IQR/median "
                  f"{100 * noise:.1f}% (worst {100 * worst:.1f}%)")  # fmt: skip
            medians.append({k: s.median for k, s in timing.items()})
        shared = set(medians[0]) & set(medians[1])
        ratios = [medians[1][k] / medians[0][k] for k in shared]
        print(
            f"run-to-run median ratio over {len(shared)} cells: median "
            f"{statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f}"
        )


if __name__ == "__main__":
    main()
