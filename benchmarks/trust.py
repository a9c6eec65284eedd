"""Can blockbench's timing verdicts be trusted? The checks of issue 9, measured.

Run each alone, on a machine with nothing else running (they take minutes):

    python benchmarks/trust.py aa --preset smoke --pairs 3   # A/A: same commit, back to back
    python benchmarks/trust.py power                         # 4/3 the work: found slower?
    python benchmarks/trust.py busy --preset smoke           # one core kept busy: flagged?
    python benchmarks/trust.py summary RUN [RUN ...]         # precision, spreads, laws of runs

``aa`` runs a preset ``2 × pairs`` times (``--new`` each time) and compares each pair with
``blockbench compare``'s rule: the target is 0 timing cells flagged faster or slower. It
also prints each run's precision (share of cells whose 95% interval is within ±5%) and
each pair's agreement (share of cells whose medians agree within ±5%). ``power`` runs a
config of the ``repeat`` plugin block (benchmarks/plugins/repeat_block.py) with 3 and
then 4 repeats of its layer: same cells, 4/3 the work; the target is >= 90% of them
flagged slower (``--heavy 3``: the same two runs without the change, an A/A pair at 10
rounds, where 0 cells may be flagged). ``busy`` runs the preset while a second process
spins on one core, and prints whether the report and ``compare`` say the machine was
busy. Runs go to ``results/trust/`` (a store per check).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results.moments import with_moments  # noqa: E402
from bench.results.rows import cell_row  # noqa: E402
from bench.results.stats import PRECISION_TARGET  # noqa: E402
from bench.results.store import Store, store_path  # noqa: E402
from bench.spec.cell import TIMING_PASSES  # noqa: E402
from bench.spec.reference import is_reference  # noqa: E402
from reports.compare import REFERENCE, compare_runs  # noqa: E402
from reports.families import families  # noqa: E402
from reports.frames import load_run  # noqa: E402
from reports.laws import overhead_fits, reversal  # noqa: E402
from reports.machine import MachineVerdict  # noqa: E402

PLUGIN = ROOT / "benchmarks" / "plugins" / "repeat_block.py"
POWER_CONFIG = """
[run]
rounds = {rounds}
visits = 6
repeats = 1
min_sample_s = 0.05
fit_step = false
xla_check = false

[[matrix]]
block = "repeat"
input_shape = [64]
units = [256, 512, 1024, 2048]
batch_size = 64
pass = ["forward", "train"]
xla = [false, true]
"""


def run(out: Path, config: str, *extra: str, env: dict | None = None) -> str:
    """One ``blockbench run`` (a new run); returns its run id."""
    command = [sys.executable, "-m", "blockbench", "--out", str(out), "run", config, "--new",
               "--quiet", *extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"run failed:\n{done.stderr[-3000:]}")
    run_id = done.stdout.strip().splitlines()[-1].split()[-1]
    print(f"  {run_id}: {time.perf_counter() - start:.0f} s", flush=True)
    return run_id


def timing_rows(store: Store, run_id: str) -> dict[str, dict]:
    return {
        s.cell.cell_id: cell_row(s, {})
        for s in with_moments(store.cells(run_id))[0]
        if s.cell.pass_ in TIMING_PASSES and s.result.status == "ok" and not is_reference(s.cell)
    }


def reference_agreement(store: Store, a: str, b: str) -> tuple[float, int, str]:
    """Share of cells whose B/A relative to the reference workload lies within ±5%, how
    many cells had it, and the reference's own raw B/A per pass."""
    comparison = compare_runs(store, a, store, b)
    ratios = [c.stats.ratio for c in comparison.cells if c.basis == REFERENCE]
    moved = ", ".join(f"{c.label.split()[-2]} {c.stats.ratio:.3f}"
                      for c in comparison.references if c.stats)  # fmt: skip
    if not ratios:
        return 0.0, 0, moved
    return sum(1 / 1.05 <= r <= 1.05 for r in ratios) / len(ratios), len(ratios), moved


def precision(store: Store, run_id: str, column: str = "step_s_ci_rel") -> tuple[float, int]:
    """Share of ok timing cells whose 95% interval is within the precision target (by
    default at the run's typical machine speed; ``step_s_ci_rel_raw``: of raw samples)."""
    rows = list(timing_rows(store, run_id).values())
    good = [r for r in rows if r[column] is not None and r[column] <= PRECISION_TARGET]
    return (len(good) / len(rows) if rows else 0.0), len(rows)


def agreement(
    store: Store, a: str, b: str, column: str = "step_s_median"
) -> tuple[float, float, float]:
    """Share of shared cells whose medians agree within ±5%, the worst ratio, and the
    share within ±5% once the median ratio over cells (the common shift) is divided out."""
    rows_a, rows_b = timing_rows(store, a), timing_rows(store, b)
    ratios = [rows_b[k][column] / rows_a[k][column] for k in rows_a if k in rows_b]
    if not ratios:
        return 0.0, 1.0, 0.0
    within = sum(1 / 1.05 <= r <= 1.05 for r in ratios) / len(ratios)
    worst = max(ratios, key=lambda r: abs(r - 1) if r >= 1 else abs(1 / r - 1))
    shift = statistics.median(ratios)
    relative = sum(1 / 1.05 <= r / shift <= 1.05 for r in ratios) / len(ratios)
    return within, worst, relative


def verdicts(store: Store, a: str, b: str) -> dict[str, int]:
    comparison = compare_runs(store, a, store, b)
    counts: dict[str, int] = {}
    for cell in comparison.cells:
        counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
    return counts


def machine(store: Store, run_id: str) -> str:
    verdict = MachineVerdict.from_canaries(store.canaries(run_id))
    return "busy" if verdict.busy else "quiet"


def cmd_aa(args: argparse.Namespace) -> None:
    out = ROOT / "results" / "trust" / f"aa-{args.preset}"
    extra = ["--no-report", *(["--rounds", str(args.rounds)] if args.rounds else [])]
    print(f"A/A: {args.pairs} pairs of `{args.preset}` into {out}")
    lines = ["| pair | A | B | verdicts | within ±5% (vs shift; vs reference) | worst B/A "
             "| reference B/A | precision A (raw) | machine |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for pair in range(1, args.pairs + 1):
        a, b = run(out, args.preset, *extra), run(out, args.preset, *extra)
        with Store(store_path(out)) as store:
            counts = verdicts(store, a, b)
            within, worst, relative = agreement(store, a, b)
            on_reference, _, reference = reference_agreement(store, a, b)
            share, cells = precision(store, a)
            raw, _ = precision(store, a, "step_s_ci_rel_raw")
            states = f"{machine(store, a)}/{machine(store, b)}"
        text = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        lines.append(f"| {pair} | {a} | {b} | {text} | {within:.0%} ({relative:.0%}; "
                     f"{on_reference:.0%}) | {worst:.3f} | {reference} | {share:.0%} "
                     f"({raw:.0%}) of {cells} | {states} |")  # fmt: skip
    print("\n".join(lines))


def cmd_power(args: argparse.Namespace) -> None:
    out = ROOT / "results" / "trust" / ("power" if args.heavy != 3 else "power-aa")
    out.mkdir(parents=True, exist_ok=True)
    config = out / "power.toml"
    config.write_text(POWER_CONFIG.format(rounds=args.rounds))
    env = {"BLOCKBENCH_PLUGINS": str(PLUGIN)}
    print(f"power: repeat block, 3 then {args.heavy} repeats of its layer, into {out}")
    base = run(out, str(config), "--no-report", env={**env, "BLOCKBENCH_REPEAT": "3"})
    heavy = run(out, str(config), "--no-report", env={**env, "BLOCKBENCH_REPEAT": str(args.heavy)})
    with Store(store_path(out)) as store:
        comparison = compare_runs(store, base, store, heavy)
        rows_a, rows_b = timing_rows(store, base), timing_rows(store, heavy)
    print("| cell | B/A raw | B/A (verdict's) | 95% CI | p | verdict on |\n"
          "|---|---|---|---|---|---|")  # fmt: skip
    for cell in comparison.cells:
        s = cell.stats
        print(f"| {cell.label} | {cell.raw_stats.ratio:.3f} | {s.ratio:.3f} | "
              f"{s.ratio_low:.3f}–{s.ratio_high:.3f} | {s.p_value:.2g} | {cell.verdict} "
              f"({cell.basis}) |")  # fmt: skip
    for reference in comparison.references:
        if reference.stats:
            print(f"| {reference.label} (reference workload) | {reference.stats.ratio:.3f} "
                  f"| | | | |")  # fmt: skip
    slower = sum(c.verdict == "slower" for c in comparison.cells)
    moved = [c for c in comparison.cells if c.stats.ratio >= 1.2]
    if moved:
        found = sum(c.verdict == "slower" for c in moved)
        print(f"\nof the {len(moved)} cells whose step time moved by 1.2x or more: {found} "
              f"flagged slower ({found / len(moved):.0%})")  # fmt: skip
    print(f"\n{slower} of {len(comparison.cells)} cells flagged slower "
          f"({slower / len(comparison.cells):.0%}; target >= 90%); "
          f"median B/A {statistics.median(c.stats.ratio for c in comparison.cells):.3f}; "
          f"cells {len(rows_a)}/{len(rows_b)}")  # fmt: skip


def cmd_busy(args: argparse.Namespace) -> None:
    out = ROOT / "results" / "trust" / f"busy-{args.preset}"
    extra = ["--no-report", *(["--rounds", str(args.rounds)] if args.rounds else [])]
    print(f"busy: `{args.preset}` while another process keeps one core busy, into {out}")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = run(out, args.preset, *extra)
    finally:
        spinner.kill()
        spinner.wait()
    quiet = run(out, args.preset, *extra)
    with Store(store_path(out)) as store:
        for name, run_id in (("with a spinning process", busy), ("quiet", quiet)):
            verdict = MachineVerdict.from_canaries(store.canaries(run_id))
            print(f"- {name} ({run_id}): {verdict.sentence()}")
        comparison = compare_runs(store, quiet, store, busy)
    print(f"- compare warns: {bool(comparison.machine_b and comparison.machine_b.busy)}")


def cmd_summary(args: argparse.Namespace) -> None:
    with Store(store_path(args.out)) as store:
        for run_id in args.runs:
            info = store.run(run_id)
            rows = list(timing_rows(store, info.run_id).values())
            share, cells = precision(store, info.run_id)
            raw, _ = precision(store, info.run_id, "step_s_ci_rel_raw")
            within = [r["spread_within"] for r in rows if r["spread_within"] is not None]
            between = [r["spread_between"] for r in rows if r["spread_between"] is not None]
            print(f"## {info.run_id}\n")
            print(f"- wall: {(info.finished_at or time.time()) - info.created_at:.0f} s; "
                  f"machine: {machine(store, info.run_id)}")  # fmt: skip
            print(f"- precision: {share:.0%} of {cells} timing cells have a 95% interval "
                  f"within ±{100 * PRECISION_TARGET:g}% at the run's typical machine speed "
                  f"({raw:.0%} from the raw samples)")  # fmt: skip
            if within and between:
                dominated = sum(b > w for b, w in zip(between, within, strict=True))
                print(f"- spread within rounds (median IQR/median): "
                      f"{statistics.median(within):.1%}; between rounds ((max − min)/median "
                      f"of round medians): {statistics.median(between):.1%}; between > "
                      f"within in {dominated} of {len(within)} cells")  # fmt: skip
            print("\n| family | pass | XLA | n | R² | throughput ±% | verdict |")
            print("|---|---|---|---|---|---|---|")
            for family in families(load_run(store, info.run_id)):
                for fit in overhead_fits(family):
                    law, spread = fit.law, fit.law.throughput_precision
                    falls = reversal(family, fit)
                    verdict = f"no law: {falls}" if falls else (
                        "fits" if law.conclusive else "inconclusive")  # fmt: skip
                    print(f"| {fit.name} | {fit.pass_} | {'on' if fit.xla else 'off'} | {law.n} | "
                          f"{law.r2:.3f} | {'—' if spread is None else f'{spread:.0%}'} | "
                          f"{verdict} |")  # fmt: skip
            print()
        if len(args.runs) == 2:
            a, b = (store.run(r).run_id for r in args.runs)
            for column, name in (("step_s_median", "at each run's typical speed"),
                                 ("step_s_median_raw", "raw")):  # fmt: skip
                within, worst, relative = agreement(store, a, b, column)
                print(f"- run to run ({name}): {within:.0%} of cells within ±5%, "
                      f"{relative:.0%} once the common shift is divided out; worst B/A "
                      f"{worst:.3f}")  # fmt: skip
            share, count, moved = reference_agreement(store, a, b)
            print(f"- run to run relative to the reference workload (its own B/A: "
                  f"{moved or 'none'}): {share:.0%} of {count} cells within ±5%")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    aa = sub.add_parser("aa")
    aa.add_argument("--preset", default="smoke")
    aa.add_argument("--pairs", type=int, default=3)
    aa.add_argument("--rounds", type=int)
    aa.set_defaults(func=cmd_aa)
    power = sub.add_parser("power")
    power.add_argument("--rounds", type=int, default=10)
    power.add_argument(
        "--heavy",
        type=int,
        default=4,
        help="repeats in the second run (3: an A/A pair at these rounds)",
    )
    power.set_defaults(func=cmd_power)
    busy = sub.add_parser("busy")
    busy.add_argument("--preset", default="smoke")
    busy.add_argument("--rounds", type=int)
    busy.set_defaults(func=cmd_busy)
    summary = sub.add_parser("summary")
    summary.add_argument("runs", nargs="+")
    summary.add_argument("--out", default=str(ROOT / "results"))
    summary.set_defaults(func=cmd_summary)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
