"""The ``blockbench`` command line.

    blockbench run quick                 # run a preset (or a TOML file), then write its report
    blockbench list smoke                # the cells a config expands to
    blockbench runs                      # stored runs
    blockbench export RUN --format csv   # cells as CSV on stdout (or --output FILE)
    blockbench report RUN                # <out>/<run>/report.md and its plots
    blockbench compare RUN_A RUN_B       # B/A step-time ratios with verdicts
    blockbench merge results/RUN/shards  # merge shard stores (files, folders, globs) into --out
    blockbench tensorboard RUN           # TensorBoard on 127.0.0.1 over the run's profiles
    blockbench blocks                    # capacity table: params and FLOPs per block

The output folder is ``--out``, else ``$BLOCKBENCH_OUT``, else ``results``. TensorFlow's
start-up log lines (oneDNN, CPU features, absl) are hidden unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import io
import json
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.orchestrate.ray_executor import RayUnavailable
from bench.orchestrate.runner import RunnerError
from bench.orchestrate.scheduler import RUN_ID_VARIABLE, ShardError, resolve
from bench.results.store import (
    ShardInfo,
    Store,
    StoreError,
    merge_problems,
    shard_store_path,
    store_path,
)
from bench.spec.backends import default_backend
from bench.spec.config import ConfigError


def _out_dir(args: argparse.Namespace) -> Path:
    return Path(args.out or os.environ.get("BLOCKBENCH_OUT") or "results")


def _open_store(args: argparse.Namespace, *, create: bool = False) -> Store:
    return Store(store_path(_out_dir(args)), create=create)


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard expects K/N, e.g. 1/4, got {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
    return index, count


def _load_spec(args: argparse.Namespace):
    from bench.spec.config import load
    from bench.spec.reference import is_reference

    spec = load(args.config)
    if getattr(args, "profile", False):
        settings = dataclasses.replace(spec.settings, profile=True)
        cells = tuple(c if is_reference(c) else dataclasses.replace(c, profile=True)
                      for c in spec.cells)  # fmt: skip
        spec = dataclasses.replace(spec, settings=settings, cells=cells)
    rounds = getattr(args, "rounds", None)
    if rounds is not None:
        if rounds < 1:
            raise ConfigError(f"--rounds {rounds}: expected a positive number of rounds")
        spec = dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, rounds=rounds))
    return spec


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.orchestrate.runner import shard

    spec = _load_spec(args)
    assignment = resolve(args.shard, os.environ)
    cells = shard(spec.cells, assignment.index, assignment.count) if assignment else spec.cells
    rows = [(c.cell_id, c.label, "yes" if c.profile else "") for c in cells]
    print(tabulate(rows, headers=["cell id", "cell", "profile"], tablefmt="github"))
    print(f"\n{len(cells)} cells from {spec.source} (config hash {spec.config_hash})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bench.orchestrate.progress import ProgressDisplay
    from bench.orchestrate.runner import Runner, shard
    from bench.results.text import format_duration

    spec = _load_spec(args)
    assignment = resolve(args.shard, os.environ)
    cells = shard(spec.cells, assignment.index, assignment.count) if assignment else spec.cells
    run_id = args.run_id or os.environ.get(RUN_ID_VARIABLE) or None
    store_file = store_path(_out_dir(args))
    if assignment is not None and not args.dry_run:
        run_id = run_id or assignment.run_id
        if not run_id:
            raise ShardError(
                f"shard {assignment.label}: the shards of one run need one run id; pass "
                f"--run-id NAME (the same on every shard) or set {RUN_ID_VARIABLE}"
            )
        store_file = shard_store_path(_out_dir(args), run_id, assignment.index, assignment.count)
    if args.dry_run:
        for cell in cells:
            print(f"{cell.cell_id}  {cell.label}")
        print(f"{len(cells)} cells would run (dry run: nothing measured)")
        return 0
    out_dir = _out_dir(args)
    executor = None
    if args.executor == "ray":  # checked before the store is touched: bad input costs nothing
        from bench.orchestrate.ray_executor import RayExecutor, check_reachable, import_ray

        import_ray()
        if args.address:
            check_reachable(args.address)
        executor = RayExecutor(None, out_dir, address=args.address, whole_node=args.whole_node,
                               cpus_per_task=args.cpus_per_task)  # fmt: skip
        executor.check(cells)
    with Store(store_file) as store:
        runner = Runner(store, out_dir)
        run_id = runner.prepare(spec, run_id=run_id, resume=args.resume, new=args.new)
        if executor is not None:
            executor.store = store
            runner = executor
        where = f"{out_dir}" if assignment is None else f"{store_file}"
        if assignment is not None:
            store.record_shard(run_id, index=assignment.index, count=assignment.count,
                               config_hash=spec.config_hash, cell_ids=[c.cell_id for c in cells],
                               host=socket.gethostname(), source=assignment.source)  # fmt: skip
            where += f" (shard {assignment.label}, from {assignment.source})"
        progress = None if args.quiet else ProgressDisplay(sys.stderr)
        print(f"run {run_id}: {len(cells)} cells from {spec.source} -> {where}", file=sys.stderr)
        try:
            summary = runner.run(
                spec, run_id, cells=cells, progress=progress, retry_failed=args.retry_failed
            )
        except KeyboardInterrupt:
            print(
                f"\ninterrupted: finished cells are stored; resume with "
                f"`{_resume_command(args, run_id)}`",
                file=sys.stderr,
            )
            return 130
        finally:
            if progress:
                progress.close()
        counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
        print(
            f"run {run_id}: ran {summary.ran} cells ({counts or 'none'}), "
            f"{summary.skipped_done} already done; wall {format_duration(summary.wall_s)}, "
            f"cells {format_duration(summary.cells_s)}, "
            f"overhead {100 * summary.overhead_fraction:.1f}% "
            f"(worker start + probes {format_duration(summary.startup_s)})"
            + "".join(f"; {name} {format_duration(seconds)}"
                      for name, seconds in summary.phases_s.items() if seconds >= 0.5)
        )  # fmt: skip
        if assignment is not None:
            print(f"shard {assignment.label} of run {run_id} is in {store_file}; when every "
                  f"shard is done: blockbench --out {out_dir} merge {store_file.parent} && "
                  f"blockbench --out {out_dir} report {run_id}")  # fmt: skip
        elif not args.no_report:
            from reports.report import write_report

            path = write_report(store, run_id, out_dir)
            print(f"report: {path}")
        print(f"run id: {run_id}")
    return 0


def _resume_command(args: argparse.Namespace, run_id: str) -> str:
    """The command line that finishes this run: the same arguments plus ``--resume``."""
    argv = list(args.argv)
    if "--resume" in argv:
        position = argv.index("--resume")
        del argv[position : position + 2]
    argv = [a for a in argv if not a.startswith("--resume=") and a != "--new"]
    return " ".join(["blockbench", *argv, "--resume", run_id])


def cmd_runs(args: argparse.Namespace) -> int:
    import datetime as dt

    from tabulate import tabulate

    with _open_store(args) as store:
        rows = [
            (
                r.run_id,
                r.name,
                dt.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M"),
                f"{r.done_cells}/{r.total_cells}",
                "finished" if r.finished_at else "incomplete",
                (r.env.get("git_commit") or "")[:8],
                _shards_cell(store.shards(r.run_id)),
            )
            for r in store.runs()
        ]
    if not rows:
        print(f"no runs in {store_path(_out_dir(args))}")
        return 0
    headers = ["run id", "config", "created", "cells", "state", "commit", "shards"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    return 0


def _shards_cell(shards: list[ShardInfo]) -> str:
    """``2/3 here (1: 12 cells, 3: 11 cells)`` for a sharded run, '' otherwise."""
    if not shards:
        return ""
    each = ", ".join(f"{s.index}: {s.stored} cells" for s in shards)
    return f"{len(shards)}/{shards[0].count} here ({each})"


def cmd_export(args: argparse.Namespace) -> int:
    from bench.results.export import pytest_benchmark_json, table_rows, write_csv, write_json

    with _open_store(args) as store:
        run_id = store.run(args.run_id).run_id
        buffer = io.StringIO()
        if args.format == "pytest-benchmark":
            json.dump(pytest_benchmark_json(store, run_id), buffer, indent=1)
            buffer.write("\n")
        else:
            rows, columns = table_rows(store, run_id, args.table)
            if args.format == "csv":
                write_csv(rows, columns, buffer)
            else:
                write_json(rows, buffer)
    if args.output:
        Path(args.output).write_text(buffer.getvalue())
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    target = store_path(_out_dir(args))
    sources = shard_stores(args.stores, exclude=target)
    with _open_store(args, create=True) as store:
        problems = merge_problems(store, sources)
        if problems:  # checked for every source first: nothing is merged
            raise StoreError("nothing merged:\n" + "\n".join(problems))
        run_ids: dict[str, None] = {}
        for source in sources:
            with Store(source, create=False, upgrade=False) as other:
                run_ids.update(dict.fromkeys(r.run_id for r in other.runs()))
            runs, cells = store.merge_from(source)
            print(f"merged {source}: {runs} new runs, {cells} new cells")
        for run_id in run_ids:
            print(_shard_line(store, run_id) or f"run {run_id}: not sharded")
    return 0


def shard_stores(arguments: Sequence[str], *, exclude: Path) -> list[Path]:
    """Store files named by files, folders (every ``*.sqlite`` below) or glob patterns."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            matches = sorted(path.rglob("*.sqlite"))
        elif glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument, recursive=True))
        elif path.exists():
            matches = [path]
        else:
            raise StoreError(f"{argument}: no such store, folder or matching files")
        if not matches:
            raise StoreError(f"{argument}: no *.sqlite store found")
        found += [m for m in matches if m.resolve() != exclude.resolve()]
    return list(dict.fromkeys(found))


def _shard_line(store: Store, run_id: str) -> str:
    """``run X: shards 1, 3 of 3 (missing: 2); cells 1:12/12 3:11/12`` ('' if unsharded)."""
    shards = store.shards(run_id)
    if not shards:
        return ""
    count = shards[0].count
    present = [s.index for s in shards]
    missing = [k for k in range(1, count + 1) if k not in present]
    state = f"missing: {', '.join(map(str, missing))}" if missing else "all present"
    cells = " ".join(f"{s.index}:{s.stored}/{s.cells}" for s in shards)
    return (f"run {run_id}: shards {', '.join(map(str, present))} of {count} ({state}); "
            f"cells per shard {cells}")  # fmt: skip


def cmd_report(args: argparse.Namespace) -> int:
    from reports.report import write_report

    with _open_store(args) as store:
        run_id = store.run(args.run_id).run_id
        path = write_report(store, run_id, _out_dir(args), folder=args.report_dir)
    print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from reports.compare import compare_runs, render_comparison

    with _open_store(args) as store_a:
        other = Store(args.store_b, create=False) if args.store_b else store_a
        try:
            comparison = compare_runs(
                store_a, args.run_a, other, args.run_b, threshold=args.threshold, alpha=args.alpha
            )
        finally:
            if other is not store_a:
                other.close()
    text = render_comparison(comparison)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if args.fail_on_regression and comparison.any_slower:
        print("regression: at least one cell is slower", file=sys.stderr)
        return 1
    if args.fail_on_regression and args.strict and comparison.any_inconclusive_slower:
        print(
            "possible regression: a cell is slower beyond the threshold but has too few "
            "samples to test (--strict)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from bench.tools.tensorboard import tensorboard_main

    with _open_store(args) as store:
        run_id = store.run(args.run_id).run_id
    return tensorboard_main(_out_dir(args), run_id, host=args.host, port=args.port)


def cmd_blocks(args: argparse.Namespace) -> int:
    from blocks.capacity import capacity_table

    print(capacity_table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blockbench",
        description="What does a Keras block's capacity cost? Measured.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    parser.add_argument("--out", help="output folder (default $BLOCKBENCH_OUT or ./results)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--out", default=argparse.SUPPRESS, help="output folder")
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS)
        p.set_defaults(handler=handler)
        return p

    p = command("run", cmd_run, "run a preset or TOML config, then write its report")
    p.add_argument("config", metavar="PRESET_OR_FILE")
    p.add_argument("--resume", metavar="RUN_ID", help="finish this run (its missing cells only)")
    p.add_argument("--run-id", help="name the run (shards of one run share a run id)")
    p.add_argument("--new", action="store_true", help="start a new run even if one is unfinished")
    p.add_argument("--shard", type=_shard, metavar="K/N",
                   help="run the K-th of N shards (default: from Slurm or Kubernetes "
                   "job-array variables)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="list what would run; measure nothing")
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local worker processes (default), or tasks on a Ray cluster (fit "
        "sweeps; see docs/scale-out.md)",
    )
    p.add_argument("--address", help="Ray cluster address (default: a local Ray instance)")
    p.add_argument(
        "--whole-node",
        action="store_true",
        help="Ray: give each timing cell a whole node (else timing cells are refused)",
    )
    p.add_argument("--cpus-per-task", type=float, default=1.0,
                   help="Ray: CPUs each fit task declares (default 1)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--profile", action="store_true", help="capture a TensorBoard profile per cell")
    p.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    p.add_argument("--no-report", action="store_true", help="do not write the report")
    p.add_argument(
        "--rounds", type=int, metavar="N", help="rounds per timing cell (overrides [run] rounds)"
    )

    p = command("list", cmd_list, "list the cells a config expands to, without running")
    p.add_argument("config", metavar="PRESET_OR_FILE")
    p.add_argument("--shard", type=_shard, metavar="K/N")
    p.add_argument("--profile", action="store_true")

    command("runs", cmd_runs, "list stored runs")

    p = command("export", cmd_export, "export a run as CSV, JSON or pytest-benchmark JSON")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--format", choices=("csv", "json", "pytest-benchmark"), default="csv")
    p.add_argument("--table", choices=("cells", "fits", "curves"), default="cells")
    p.add_argument("--output", help="write here instead of stdout")

    p = command("merge", cmd_merge, "merge shard stores into the --out store")
    p.add_argument("stores", nargs="+", metavar="STORE",
                   help="store files, folders (every *.sqlite below) or glob patterns")  # fmt: skip

    p = command("report", cmd_report, "write <out>/<run>/report.md and its plots ('latest' works)")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--report-dir", metavar="DIR", help="write report.md and plots into DIR")

    p = command("compare", cmd_compare, "compare step times of two runs")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--store-b", help="RUN_B lives in this store file (default: same store)")
    p.add_argument("--threshold", type=float, default=0.10, help="minimum change (0.10 = 10%%)")
    p.add_argument(
        "--alpha", type=float, default=0.002, help="Mann-Whitney U significance (default 0.002)"
    )
    p.add_argument("--output", help="write the markdown table here")
    p.add_argument("--fail-on-regression", action="store_true", help="exit 1 if a cell is slower")
    p.add_argument(
        "--strict",
        action="store_true",
        help="with --fail-on-regression, also fail on slowdowns too few samples could test",
    )

    p = command("tensorboard", cmd_tensorboard, "serve a run's profiles with TensorBoard")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")

    command("blocks", cmd_blocks, "print each block's params and FLOPs at a few capacities")
    return parser


def tensorflow_logging(*, verbose: bool) -> None:
    """Hide TensorFlow's C++ log lines below ERROR unless ``verbose``.

    It must run before TensorFlow loads: every import of it below the CLI is lazy, and
    ``TF_CPP_MIN_LOG_LEVEL`` is read once, at load. A level the user exported is kept.

    >>> tensorflow_logging(verbose=False); os.environ["TF_CPP_MIN_LOG_LEVEL"] in "0123"
    True
    """
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tensorflow_logging(verbose=args.verbose)
    # Keras in this process (config checks, cost tables) uses an installed backend: on a
    # jax-only install, jax. Workers choose their own backend per cell.
    os.environ.setdefault("KERAS_BACKEND", default_backend())
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.handler(args)
    except RunnerError as error:
        print(f"blockbench: run stopped: {error}", file=sys.stderr)
        return 1
    except RayUnavailable as error:
        print(f"blockbench: error: {error}", file=sys.stderr)
        return 2
    except (ConfigError, StoreError) as error:
        print(f"blockbench: error: {error}", file=sys.stderr)
        return 2
    except KeyError as error:
        print(f"blockbench: error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"blockbench: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
