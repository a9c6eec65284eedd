"""The runner: executes a spec's cells in worker processes and never loses a result.

A worker runs many cells in a row (TensorFlow is imported once). A cell that crashes
the worker (even a segfault), hangs past its timeout, or grows past the memory limit is
recorded as ``failed`` with its reason and the tail of the worker's log, and the next
cell gets a fresh worker; a worker that cannot start or a probe that fails is recorded
too, and the run goes on. Every finished cell is committed to the store at once, so an
interrupted run resumes where it stopped. The runner process runs no TensorFlow work (it
imports Keras only through ``blocks``, to validate configs).

>>> # Runner(store, out_dir).run(spec, run_id=None) -> RunSummary
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.orchestrate.env import fingerprint
from bench.results.records import CellResult
from bench.results.store import Store
from bench.spec.cell import Cell
from bench.spec.config import RunSettings, Spec

READY_TIMEOUT_S = 180.0
LOG_TAIL_CHARS = 3000
MAX_START_FAILURES = 3  # consecutive worker start failures before the run gives up


class WorkerDied(RuntimeError):
    """The worker exited or was killed; the message says how."""


class RunnerError(RuntimeError):
    """The run cannot go on (e.g. workers keep failing to start); finished cells are kept."""


@dataclass
class Worker:
    """One live worker process and its channels."""

    process: subprocess.Popen
    log_path: Path
    gpu: bool = False

    @classmethod
    def start(cls, settings: RunSettings, run_dir: Path, *, python: str = sys.executable) -> Worker:
        log_path = run_dir / "worker.log"
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true", "PYTHONUNBUFFERED": "1"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # The worker runs in the caller's folder (relative plugin paths keep working) and
        # finds blockbench through PYTHONPATH; the run folder is absolute.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_project_root(), os.environ.get("PYTHONPATH", "")) if p
        )
        process = subprocess.Popen(
            [python, "-m", "bench.worker", json.dumps(settings.to_dict()), str(run_dir.resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()
        worker = cls(process, log_path)
        offset = _size(log_path)
        try:
            ready = worker.receive(READY_TIMEOUT_S, memory_limit=None)
        except (TimeoutError, WorkerDied) as error:
            worker.kill()
            worker.close()
            tail = _read_from(log_path, offset)[-LOG_TAIL_CHARS:]
            raise WorkerDied(f"worker failed to start: {error}\n{tail}".rstrip()) from error
        worker.gpu = bool(ready.get("gpu"))
        return worker

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise WorkerDied(self._death_reason()) from error

    def receive(self, timeout_s: float, *, memory_limit: int | None) -> dict[str, Any]:
        """Wait for one message; kill the worker on timeout or memory excess."""
        deadline = time.monotonic() + timeout_s
        stream = self.process.stdout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise TimeoutError(f"timeout: no result after {timeout_s:g} s (worker killed)")
            ready, _, _ = select.select([stream], [], [], min(remaining, 0.5))
            if ready:
                line = stream.readline()
                if not line:
                    raise WorkerDied(self._death_reason())
                try:
                    return json.loads(line)
                except json.JSONDecodeError as error:
                    self.kill()
                    raise WorkerDied(f"worker sent a malformed reply ({error})") from error
            if memory_limit is not None:
                rss = self.rss()
                if rss > memory_limit:
                    self.kill()
                    raise MemoryError(
                        f"out of memory: worker RSS {rss / 2**30:.1f} GiB passed the limit "
                        f"{memory_limit / 2**30:.1f} GiB (worker killed)"
                    )

    def rss(self) -> int:
        try:
            return psutil.Process(self.process.pid).memory_info().rss
        except psutil.Error:
            return 0

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send({"op": "exit"})
                self.process.wait(timeout=10)
            except (WorkerDied, subprocess.TimeoutExpired):
                self.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                stream.close()

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - chars))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _death_reason(self) -> str:
        code = self.process.wait()
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (killed from outside; out of memory?)" if -code == signal.SIGKILL else ""
            return f"worker crashed: killed by {name}{hint}"
        return f"worker exited with code {code}"


@dataclass
class RunSummary:
    """What one invocation of the runner did."""

    run_id: str
    total: int
    ran: int = 0
    skipped_done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    cells_s: float = 0.0  # sum of the cells' own wall time, measured in the workers
    startup_s: float = 0.0  # worker starts (TensorFlow import) and probes

    @property
    def overhead_fraction(self) -> float:
        return (self.wall_s - self.cells_s) / self.wall_s if self.wall_s else 0.0


Progress = Callable[[int, int, Cell | None, CellResult | None], None]


class Runner:
    """Runs specs into a store. One cell at a time: two cells never share the machine."""

    def __init__(self, store: Store, out_dir: Path, *, python: str = sys.executable,
                 memory_limit: int | None = None) -> None:  # fmt: skip
        self.store = store
        self.out_dir = Path(out_dir).resolve()
        self.python = python
        total = psutil.virtual_memory().total
        self.memory_limit = memory_limit if memory_limit is not None else int(total * 0.8)

    def prepare(self, spec: Spec, *, run_id: str | None = None, resume: str | None = None,
                new: bool = False) -> str:  # fmt: skip
        """Pick the run id: an explicit resume, an unfinished run of the same config, an
        existing ``run_id`` (shards of one run), or a new run."""
        if resume:
            info = self.store.run(resume)
            if info.config_hash != spec.config_hash:
                raise ValueError(
                    f"run {info.run_id} was made from a different config ({info.name}); "
                    "resume it with the same config file or preset"
                )
            return info.run_id
        if run_id:
            existing = [r for r in self.store.runs() if r.run_id == run_id]
            if existing:
                info = existing[0]
                if info.config_hash != spec.config_hash:
                    raise ValueError(
                        f"run {run_id} exists and was made from a different config "
                        f"({info.name}); choose another --run-id"
                    )
                if info.finished_at is not None:
                    raise ValueError(
                        f"run {run_id} is already finished; choose another --run-id "
                        "(or --resume it with --retry-failed)"
                    )
                return run_id
        elif not new:
            previous = self.store.resumable_run(spec.config_hash)
            if previous is not None:
                return previous.run_id
        run_id = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}"
        self.store.create_run(
            run_id,
            name=spec.name,
            config_hash=spec.config_hash,
            config={"source": spec.source, "settings": spec.settings.to_dict(), "text": spec.text},
            env=fingerprint(tf32=spec.settings.tf32),
            total_cells=len(spec.cells),
        )
        return run_id

    def run(
        self,
        spec: Spec,
        run_id: str,
        *,
        cells: Sequence[Cell] | None = None,
        progress: Progress | None = None,
        retry_failed: bool = False,
    ) -> RunSummary:
        """Run the cells of ``spec`` (or the given subset) that ``run_id`` lacks."""
        start = time.perf_counter()
        todo = list(cells if cells is not None else spec.cells)
        statuses = ("ok", "skipped") if retry_failed else ("ok", "skipped", "failed")
        done = self.store.finished_cell_ids(run_id, statuses=statuses)
        missing = [c for c in todo if c.cell_id not in done]
        summary = RunSummary(run_id, total=len(todo), skipped_done=len(todo) - len(missing))
        run_dir = self.out_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        worker: Worker | None = None
        probed = set(self.store.probes(run_id))
        start_failures = 0
        try:
            for index, cell in enumerate(missing):
                if progress:
                    progress(index, len(missing), cell, None)
                t0 = time.perf_counter()
                worker, failure = self._ready_worker(worker, spec.settings, run_dir)
                if worker is not None and cell.device not in probed and cell.pass_ != "fit":
                    worker = self._probe(worker, run_id, cell.device, spec.settings)
                    probed.add(cell.device)
                    worker, failure = self._ready_worker(worker, spec.settings, run_dir)
                summary.startup_s += time.perf_counter() - t0
                if worker is None:
                    start_failures += 1
                    reason, _, tail = failure.partition("\n")
                    result = CellResult("failed", reason=reason, traceback=tail)
                    self._finish_cell(run_id, cell, result, summary, progress, index, missing)
                    if start_failures >= MAX_START_FAILURES:
                        raise RunnerError(
                            f"{start_failures} workers in a row failed to start ({reason}); "
                            f"finished cells are stored; see {run_dir / 'worker.log'}"
                        )
                    continue
                start_failures = 0
                result, worker = self._run_one(worker, cell, spec.settings)
                self._finish_cell(run_id, cell, result, summary, progress, index, missing)
        finally:
            if worker is not None:
                worker.close()
            summary.wall_s = time.perf_counter() - start
        if set(c.cell_id for c in spec.cells) <= self.store.finished_cell_ids(run_id):
            self.store.finish_run(run_id)
        return summary

    def _ready_worker(
        self, worker: Worker | None, settings: RunSettings, run_dir: Path
    ) -> tuple[Worker | None, str]:
        """The live worker, or a fresh one; ``(None, reason)`` when one cannot start."""
        if worker is not None and worker.process.poll() is None:
            return worker, ""
        try:
            return Worker.start(settings, run_dir, python=self.python), ""
        except WorkerDied as error:
            return None, str(error)

    def _finish_cell(
        self,
        run_id: str,
        cell: Cell,
        result: CellResult,
        summary: RunSummary,
        progress: Progress | None,
        index: int,
        missing: Sequence[Cell],
    ) -> None:
        self.store.record(run_id, cell, result)
        summary.ran += 1
        summary.cells_s += result.wall_s
        summary.counts[result.status] = summary.counts.get(result.status, 0) + 1
        if progress:
            progress(index + 1, len(missing), cell, result)

    def _memory_limit(self, settings: RunSettings) -> int:
        if settings.memory_limit_gb > 0:
            return int(settings.memory_limit_gb * 2**30)
        return self.memory_limit

    def _probe(
        self, worker: Worker, run_id: str, device: str, settings: RunSettings
    ) -> Worker | None:
        """Measure the device's peak once; a failed probe is stored with its reason (and
        "% of peak" stays empty) and returns no worker if the probe took it down."""
        try:
            worker.send({"op": "probe", "device": device})
            reply = worker.receive(settings.timeout_s, memory_limit=self._memory_limit(settings))
            probe = reply.get("probe") or {"peak_flops": None, "reason": str(reply)}
        except (TimeoutError, MemoryError, WorkerDied) as error:
            worker.kill()
            worker.close()
            self.store.set_probe(run_id, device, None, {"reason": f"probe failed: {error}"})
            return None
        self.store.set_probe(run_id, device, probe.get("peak_flops"), probe)
        return worker

    def _run_one(self, worker: Worker, cell: Cell,
                 settings: RunSettings) -> tuple[CellResult, Worker | None]:  # fmt: skip
        """Run one cell; on any worker death return a failed result and no worker."""
        start = time.perf_counter()
        log_size = _size(worker.log_path)
        try:
            worker.send({"op": "cell", "cell": cell.to_dict()})
            reply = worker.receive(settings.timeout_s, memory_limit=self._memory_limit(settings))
            if reply.get("op") != "result":
                raise WorkerDied(f"worker replied {reply!r} instead of a result")
            return CellResult.from_dict(reply["result"]), worker
        except (TimeoutError, MemoryError, WorkerDied) as error:
            worker.kill()
            tail = _read_from(worker.log_path, log_size)[-LOG_TAIL_CHARS:]
            worker.close()
            result = CellResult(
                "failed",
                reason=str(error),
                traceback=tail,
                wall_s=time.perf_counter() - start,
            )
            return result, None


def shard(cells: Sequence[Cell], index: int, count: int) -> list[Cell]:
    """The deterministic ``index``-th of ``count`` shards (1-based), balanced by cell id.

    >>> from bench.spec.cell import Cell
    >>> cells = [Cell("dense", (("units", u),), (4,), 2, "train") for u in range(1, 8)]
    >>> sum(len(shard(cells, k, 3)) for k in (1, 2, 3))
    7
    """
    if not 1 <= index <= count:
        raise ValueError(f"--shard K/N needs 1 <= K <= N, got {index}/{count}")
    ordered = sorted(cells, key=lambda c: c.cell_id)
    chosen = {c.cell_id for c in ordered[index - 1 :: count]}
    return [c for c in cells if c.cell_id in chosen]


def _project_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except OSError:
        return ""
