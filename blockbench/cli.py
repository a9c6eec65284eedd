"""The ``blockbench`` command line.

    blockbench run quick                 # run a preset (or a TOML file), then write its report
    blockbench list smoke                # the cells a config expands to
    blockbench runs                      # stored runs
    blockbench export RUN --format csv   # cells as CSV on stdout (or --output FILE)
    blockbench report RUN                # <out>/<run>/report.md and its plots
    blockbench compare RUN_A RUN_B       # B/A step-time ratios with verdicts
    blockbench merge a.sqlite b.sqlite   # merge shard stores into --out
    blockbench tensorboard RUN           # TensorBoard on 127.0.0.1 over the run's profiles
    blockbench blocks                    # capacity table: params and FLOPs per block

The output folder is ``--out``, else ``$BLOCKBENCH_OUT``, else ``results``. TensorFlow's
start-up log lines (oneDNN, CPU features, absl) are hidden unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.orchestrate.runner import RunnerError
from bench.results.store import Store, StoreError, store_path
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

    spec = load(args.config)
    if getattr(args, "profile", False):
        settings = dataclasses.replace(spec.settings, profile=True)
        cells = tuple(dataclasses.replace(c, profile=True) for c in spec.cells)
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
    cells = shard(spec.cells, *args.shard) if args.shard else list(spec.cells)
    rows = [(c.cell_id, c.label, "yes" if c.profile else "") for c in cells]
    print(tabulate(rows, headers=["cell id", "cell", "profile"], tablefmt="github"))
    print(f"\n{len(cells)} cells from {spec.source} (config hash {spec.config_hash})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bench.orchestrate.progress import ProgressDisplay
    from bench.orchestrate.runner import Runner, shard
    from bench.results.text import format_duration

    spec = _load_spec(args)
    cells = shard(spec.cells, *args.shard) if args.shard else list(spec.cells)
    if args.dry_run:
        for cell in cells:
            print(f"{cell.cell_id}  {cell.label}")
        print(f"{len(cells)} cells would run (dry run: nothing measured)")
        return 0
    out_dir = _out_dir(args)
    with Store(store_path(out_dir)) as store:
        runner = Runner(store, out_dir)
        run_id = runner.prepare(spec, run_id=args.run_id, resume=args.resume, new=args.new)
        progress = None if args.quiet else ProgressDisplay(sys.stderr)
        print(f"run {run_id}: {len(cells)} cells from {spec.source} -> {out_dir}", file=sys.stderr)
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
        )
        if not args.no_report:
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
            )
            for r in store.runs()
        ]
    if not rows:
        print(f"no runs in {store_path(_out_dir(args))}")
        return 0
    headers = ["run id", "config", "created", "cells", "state", "commit"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    return 0


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
    with _open_store(args, create=True) as store:
        for source in args.stores:
            runs, cells = store.merge_from(source)
            print(f"merged {source}: {runs} new runs, {cells} new cells")
    return 0


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
    p.add_argument("--shard", type=_shard, metavar="K/N", help="run the K-th of N shards")
    p.add_argument("--dry-run", action="store_true", help="list what would run; measure nothing")
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
    p.add_argument("stores", nargs="+", metavar="STORE")

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
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.handler(args)
    except RunnerError as error:
        print(f"blockbench: run stopped: {error}", file=sys.stderr)
        return 1
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
