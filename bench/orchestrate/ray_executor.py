"""Cells as Ray tasks: a fit sweep spread over a Ray cluster, streamed into the store.

``blockbench run CONFIG --executor ray [--address ADDR]`` sends each fit configuration
(the seeds of one ``group_id``, as the local runner groups them) to the cluster as one
task that declares ``cpus_per_task`` CPUs. The task starts the ordinary blockbench worker
process on its node (`bench.worker`, or the stub named by ``BLOCKBENCH_WORKER_MODULE``)
and speaks the same protocol to it, so a segfault, a hang or an out-of-memory fails the
cell exactly as it does locally. The driver waits on the tasks with ``ray.wait`` and
records each group in the store as soon as it finishes: nothing finished waits for the
slowest task, and a crash loses nothing already stored.

- A task that dies (its Ray worker killed, its node lost) is recorded as ``failed`` with
  Ray's reason, and the run goes on; a task past its timeout (``timeout_s`` per cell) is
  cancelled and recorded as ``failed: timeout``. Failed cells are final, as locally;
  ``--resume RUN --retry-failed`` runs them again, and a resume skips what is stored.
- **Timing cells** are refused unless ``whole_node`` is asked for: their numbers are only
  comparable on an otherwise idle machine. With it, each timing cell is one task that
  reserves every CPU of the largest node (so nothing else is scheduled beside it), runs
  its rounds in fresh workers and its extras there, and records the node's host name in
  every round (`bench.results.records.RoundResult.host`); the report splits families by
  host, so no table or fit mixes machines.
- Ray is an optional extra (``pip install -e '.[ray]'``). An unreachable ``--address``
  fails within ``CONNECT_TIMEOUT_S`` with the address and the socket error.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.orchestrate.runner import (
    WORKER_MODULE,
    WORKER_VARIABLE,
    RunSummary,
    Worker,
    WorkerDied,
    finish_if_complete,
    pending_cells,
)
from bench.results.records import CellResult, Reply, assemble
from bench.results.store import Store
from bench.spec.cell import TIMING_PASSES, Cell
from bench.spec.config import RunSettings, Spec

CONNECT_TIMEOUT_S = 10.0
POLL_S = 0.5
DEFAULT_PORT = 6379


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached; the message says which."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "--executor ray needs Ray, which is not installed: pip install -e '.[ray]'"
        ) from None
    return ray


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within ``timeout_s`` when nothing listens at a cluster address.

    >>> check_reachable("127.0.0.1:1", timeout_s=2)
    Traceback (most recent call last):
    ...
    bench.orchestrate.ray_executor.RayUnavailable: no Ray cluster reachable at 127.0.0.1:1 ...
    """
    if address in ("", "auto", "local"):
        return
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    host, port = parsed.hostname or "127.0.0.1", parsed.port or DEFAULT_PORT
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        raise RayUnavailable(
            f"no Ray cluster reachable at {address} within {timeout_s:g} s ({error}); "
            "start one with `ray start --head` or check --address"
        ) from error


def run_task(
    settings: dict[str, Any],
    cells: list[dict[str, Any]],
    run_dir: str,
    worker_module: str,
    *,
    whole_node: bool = False,
) -> dict[str, Any]:
    """The body of one Ray task, on whichever node Ray picked: a fit group, or a timing
    cell's rounds and extras, through a local blockbench worker. Returns the node and
    one result dict per cell. Written to be called without Ray too (the tests do)."""
    run_settings = RunSettings(**settings)
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    node = socket.gethostname()
    parsed = [Cell.from_dict(c) for c in cells]
    _mark_running(folder, parsed)
    if parsed[0].pass_ in TIMING_PASSES:
        result = _timing_cell(parsed[0], run_settings, folder, worker_module, node)
        return {"node": node, "results": [result.to_dict()]}
    worker = None
    start = time.perf_counter()
    try:
        worker = Worker.start(run_settings, folder, module=worker_module, backend=parsed[0].backend)
        worker.send({"op": "fit_group", "cells": cells})
        reply = worker.receive(run_settings.timeout_s * len(cells), memory_limit=None)
        results = [CellResult.from_dict(r) for r in reply["results"]]
    except (TimeoutError, WorkerDied, KeyError) as error:
        failed = CellResult(
            "failed", reason=f"{error} (on {node})", wall_s=time.perf_counter() - start
        )
        results = [failed] * len(parsed)
    finally:
        if worker is not None:
            worker.close()
    return {"node": node, "results": [r.to_dict() for r in results]}


def _timing_cell(
    cell: Cell, settings: RunSettings, folder: Path, worker_module: str, node: str
) -> CellResult:
    """Every round in a fresh worker, then the extras: the local runner's method, on one
    reserved node."""
    replies: list[Reply] = []
    steps = None
    start = time.perf_counter()
    for round_ in range(1, settings.rounds + 1):
        request = {
            "op": "round",
            "cell": cell.to_dict(),
            "round": round_,
            "position": 0,
            "steps": steps,
        }
        reply = _ask(request, settings, folder, worker_module, cell.backend, bfc=False)
        if reply.status != "ok":
            return CellResult(
                reply.status,
                reply.reason,
                reply.traceback,
                warnings=reply.warnings,
                wall_s=time.perf_counter() - start,
            )
        if reply.round is not None:
            reply = Reply(**{**vars(reply), "round": replace(reply.round, host=node)})
            steps = steps or reply.round.steps_per_sample
        replies.append(reply)
    extras = _ask(
        {"op": "extras", "cell": cell.to_dict()},
        settings,
        folder,
        worker_module,
        cell.backend,
        bfc=True,
    )
    result = assemble(replies[0].costs, replies, extras)
    return CellResult(**{**vars(result), "wall_s": time.perf_counter() - start})


def _ask(
    request: dict[str, Any],
    settings: RunSettings,
    folder: Path,
    module: str,
    backend: str,
    *,
    bfc: bool,
) -> Reply:
    worker = None
    try:
        worker = Worker.start(settings, folder, module=module, bfc=bfc, backend=backend)
        worker.send(request)
        return Reply.from_dict(worker.receive(settings.timeout_s, memory_limit=None)["reply"])
    except (TimeoutError, WorkerDied, KeyError) as error:
        return Reply("failed", reason=str(error))
    finally:
        if worker is not None:
            worker.close()


def _mark_running(folder: Path, cells: list[Cell]) -> None:
    """``<run>/ray-tasks/<cell id>.pid``: which process runs which cells (for operators,
    and for the fault test, which kills one)."""
    marks = folder / "ray-tasks"
    marks.mkdir(exist_ok=True)
    for cell in cells:
        (marks / f"{cell.cell_id}.pid").write_text(str(os.getpid()))


Progress = Callable[[int, int, Cell | None, CellResult | None], None]


class RayExecutor:
    """Runs a spec's cells as Ray tasks into a store (see the module doc)."""

    def __init__(
        self,
        store: Store,
        out_dir: Path,
        *,
        address: str | None = None,
        whole_node: bool = False,
        cpus_per_task: float = 1.0,
        local_cpus: int | None = None,
        worker_module: str | None = None,
    ) -> None:
        self.store = store
        self.out_dir = Path(out_dir).resolve()
        self.address = address
        self.whole_node = whole_node
        self.cpus_per_task = cpus_per_task
        self.local_cpus = local_cpus
        self.worker_module = worker_module or os.environ.get(WORKER_VARIABLE, WORKER_MODULE)

    def check(self, cells: Sequence[Cell]) -> None:
        """Refuse what Ray must not run, before anything is sent."""
        timing = [c for c in cells if c.pass_ in TIMING_PASSES]
        if timing and not self.whole_node:
            raise ValueError(
                f"{len(timing)} timing cells (e.g. {timing[0].label}) cannot run on Ray "
                "beside other tasks: their step times would measure the neighbours. Pass "
                "--whole-node to give each one a whole node, or run them with the local "
                "executor (fit cells alone are fine on Ray)"
            )

    def connect(self) -> Any:
        ray = import_ray()
        if self.address:
            check_reachable(self.address)
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            elif self.local_cpus:
                kwargs["num_cpus"] = self.local_cpus
            env = {k: v for k, v in os.environ.items() if k.startswith(("BLOCKBENCH_", "KERAS"))}
            env["PYTHONPATH"] = os.pathsep.join(
                p
                for p in (
                    str(Path(__file__).resolve().parents[2]),
                    os.environ.get("PYTHONPATH", ""),
                )
                if p
            )
            ray.init(runtime_env={"env_vars": env}, **kwargs)
        return ray

    def run(
        self,
        spec: Spec,
        run_id: str,
        *,
        cells: Sequence[Cell] | None = None,
        progress: Progress | None = None,
        retry_failed: bool = False,
    ) -> RunSummary:
        start = time.perf_counter()
        todo, missing = pending_cells(self.store, spec, run_id, cells, retry_failed=retry_failed)
        self.check(todo)
        summary = RunSummary(run_id, total=len(todo), skipped_done=len(todo) - len(missing))
        if missing:
            ray = self.connect()
            self._run(ray, spec, run_id, missing, summary, progress)
        summary.wall_s = time.perf_counter() - start
        finish_if_complete(self.store, spec, run_id)
        return summary

    def _run(
        self,
        ray: Any,
        spec: Spec,
        run_id: str,
        cells: list[Cell],
        summary: RunSummary,
        progress: Progress | None,
    ) -> None:
        run_dir = self.out_dir / run_id
        groups: dict[str, list[Cell]] = {}
        for cell in cells:
            groups.setdefault(cell.group_id, []).append(cell)
        remote = ray.remote(run_task)
        node_cpus = max(
            (n["Resources"].get("CPU", 1) for n in ray.nodes() if n["Alive"]), default=1
        )
        pending: dict[Any, tuple[list[Cell], float]] = {}
        settings = spec.settings.to_dict()
        for members in groups.values():
            timing = members[0].pass_ in TIMING_PASSES
            options = {"num_cpus": node_cpus if timing else self.cpus_per_task, "max_retries": 0}
            ref = remote.options(**options).remote(
                settings,
                [c.to_dict() for c in members],
                str(run_dir),
                self.worker_module,
                whole_node=timing,
            )
            pending[ref] = (members, time.monotonic())
        finished = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                members, started = pending.pop(ref)
                for cell, result in zip(
                    members, self._results(ray, ref, members, started), strict=True
                ):
                    self._record(run_id, cell, result, summary)
                    finished += 1
                    if progress:
                        progress(finished, len(cells), cell, result)
            now = time.monotonic()
            for ref, (members, started) in list(pending.items()):
                limit = (
                    spec.settings.timeout_s
                    * len(members)
                    * (spec.settings.rounds + 1 if members[0].pass_ in TIMING_PASSES else 1)
                )
                if now - started > limit + CONNECT_TIMEOUT_S:
                    ray.cancel(ref, force=True)
                    pending.pop(ref)
                    reason = f"timeout: no result after {limit:g} s (Ray task cancelled)"
                    for cell in members:
                        self._record(
                            run_id,
                            cell,
                            CellResult("failed", reason=reason, wall_s=now - started),
                            summary,
                        )
                        finished += 1

    def _results(self, ray: Any, ref: Any, members: list[Cell], started: float) -> list[CellResult]:
        try:
            reply = ray.get(ref)
            return [CellResult.from_dict(r) for r in reply["results"]]
        except Exception as error:  # the task or its Ray worker died: its cells fail
            reason = f"Ray task failed: {type(error).__name__}: {str(error).splitlines()[0]}"
            return [
                CellResult("failed", reason=reason, wall_s=time.monotonic() - started)
                for _ in members
            ]

    def _record(self, run_id: str, cell: Cell, result: CellResult, summary: RunSummary) -> None:
        self.store.record(run_id, cell, result)
        summary.ran += 1
        summary.cells_s += result.wall_s
        summary.counts[result.status] = summary.counts.get(result.status, 0) + 1
