"""The runner: executes a spec's cells in worker processes and never loses a result.

A timing cell is measured in ``rounds``. Every round starts a **fresh worker** (so no
round shares a process's state with another) with TensorFlow's default CPU allocator,
and runs that round's cells in a **shuffled order** (seed: the run's ``seed`` and the
round number, so the order is recorded by the config), so drift in the machine spreads
over all cells instead of biasing a few. With ``visits`` > 1 the worker keeps the
compiled programs of a block of cells (`visit_blocks`) and the round then sweeps over
the block ``visits - 1`` more times, each sweep in a new shuffled order, adding
``repeats`` samples per cell: a cell's samples lie at many moments. Each round of a cell
is stored at once after its first visit, and again with every sample after the sweeps.
Then the **extras** of every timing cell (allocator peak, XLA check, Keras step,
profile) run in workers with the BFC allocator, outside the timed rounds; a profiled
cell gets a worker of its own, so its memory profile holds only its own memory. Fit
cells run last. The **canary** (`bench.measure.canary`) runs at the start of every round
and at the end, beside a reading of the machine's CPU counters (`bench.orchestrate.machine`).

A cell that crashes the worker (even a segfault), hangs past its timeout, or grows past
the memory limit is recorded as ``failed`` with its reason and the tail of the worker's
log, is not retried in later rounds, and the next cell gets a fresh worker; a worker that
cannot start or a probe that fails is recorded too, and the run goes on. An interrupted
run resumes where it stopped, round by round. The runner process runs no TensorFlow work.

>>> settings = RunSettings(rounds=2, seed=7)
>>> cells = [Cell("dense", (("units", u),), (4,), 2, "train") for u in (1, 2, 3)]
>>> [c.knob_dict["units"] for c in round_order(cells, settings, 1)]
[3, 1, 2]
>>> round_order(cells, settings, 1) == round_order(cells, settings, 1)  # recorded by seed
True
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from bench.orchestrate.env import fingerprint
from bench.orchestrate.machine import CpuCounters, machine_state
from bench.results.records import CellResult, Reply, assemble, joined
from bench.results.store import Store
from bench.spec.backends import DEFAULT_BACKEND, installed, missing_reason
from bench.spec.cell import TIMING_PASSES, Cell
from bench.spec.config import RunSettings, Spec
from bench.spec.reference import is_reference

READY_TIMEOUT_S = 180.0
LOG_TAIL_CHARS = 3000
MAX_START_FAILURES = 3  # consecutive worker start failures before the run gives up
# The worker program. BLOCKBENCH_WORKER_MODULE names another module that speaks the same
# protocol (the tests' stub worker, which needs no TensorFlow).
WORKER_MODULE = "bench.worker"
WORKER_VARIABLE = "BLOCKBENCH_WORKER_MODULE"


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
    backend: str = DEFAULT_BACKEND

    @classmethod
    def start(
        cls,
        settings: RunSettings,
        run_dir: Path,
        *,
        python: str = sys.executable,
        module: str = WORKER_MODULE,
        bfc: bool = False,
        backend: str = DEFAULT_BACKEND,
    ) -> Worker:
        """Start a worker of Keras backend ``backend`` (its ``KERAS_BACKEND``); ``bfc``
        selects TensorFlow's BFC CPU allocator (measurable peaks) instead of the default
        one (what the timed rounds use)."""
        log_path = run_dir / "worker.log"
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("TF_CPU_ALLOCATOR_USE_BFC", None)
        if bfc:
            env["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["KERAS_BACKEND"] = backend
        # XLA's persistent compilation cache, one per run: a cell's XLA program is compiled
        # once (round 1, whose compile time is the one reported) and loaded by later rounds
        # and the extras. The executable is the same, so step times do not change.
        cache = f"--tf_xla_persistent_cache_directory={run_dir.resolve() / 'xla-cache'}"
        if "tf_xla_persistent_cache_directory" not in env.get("TF_XLA_FLAGS", ""):
            env["TF_XLA_FLAGS"] = f"{env.get('TF_XLA_FLAGS', '')} {cache}".strip()
        # The worker runs in the caller's folder (relative plugin paths keep working) and
        # finds blockbench through PYTHONPATH; the run folder is absolute.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_project_root(), os.environ.get("PYTHONPATH", "")) if p
        )
        process = subprocess.Popen(
            [python, "-m", module, json.dumps(settings.to_dict()), str(run_dir.resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()
        worker = cls(process, log_path, backend=backend)
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

    def cpu_seconds(self) -> float:
        """CPU time the worker has used so far (user + system, all threads)."""
        try:
            times = psutil.Process(self.process.pid).cpu_times()
            return times.user + times.system
        except psutil.Error:
            return 0.0

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
    cells_s: float = 0.0  # the cells' own time: rounds, extras and fits, as the runner saw it
    startup_s: float = 0.0  # worker starts (TensorFlow import), probes and canaries
    phases_s: dict[str, float] = field(default_factory=dict)  # rounds, extras, fit

    @property
    def overhead_fraction(self) -> float:
        return (self.wall_s - self.cells_s) / self.wall_s if self.wall_s else 0.0


Progress = Callable[[int, int, Cell | None, CellResult | None], None]


def pending_cells(
    store: Store, spec: Spec, run_id: str, cells: Sequence[Cell] | None, *, retry_failed: bool
) -> tuple[list[Cell], list[Cell]]:
    """``(todo, missing)``: the cells asked for (default: all of ``spec``) and those of
    them the run lacks (failed cells count as done unless ``retry_failed``)."""
    todo = list(cells if cells is not None else spec.cells)
    statuses = ("ok", "skipped") if retry_failed else ("ok", "skipped", "failed")
    done = store.finished_cell_ids(run_id, statuses=statuses)
    return todo, [c for c in todo if c.cell_id not in done]


def finish_if_complete(store: Store, spec: Spec, run_id: str) -> None:
    """Mark the run finished once every cell of its spec is stored."""
    if {c.cell_id for c in spec.cells} <= store.finished_cell_ids(run_id):
        store.finish_run(run_id)


def round_order(cells: Sequence[Cell], settings: RunSettings, round_: int) -> list[Cell]:
    """The cells of one round in their shuffled order, from the run's seed and the round.

    Cells of one backend run in that backend's worker, so a round runs its backends one
    after another, in an order shuffled per round too (no backend always goes first).
    """
    ordered = sorted(cells, key=lambda c: c.cell_id)
    random.Random(f"{settings.seed}:{round_}").shuffle(ordered)
    kinds = sorted({c.backend for c in ordered})
    if len(kinds) > 1:
        random.Random(f"{settings.seed}:{round_}:backends").shuffle(kinds)
        ordered.sort(key=lambda c: kinds.index(c.backend))  # stable: shuffle kept within
    return ordered


class Runner:
    """Runs specs into a store. One worker at a time: two cells never share the machine."""

    def __init__(
        self,
        store: Store,
        out_dir: Path,
        *,
        python: str = sys.executable,
        memory_limit: int | None = None,
        worker_module: str | None = None,
    ) -> None:
        self.store = store
        self.out_dir = Path(out_dir).resolve()
        self.python = python
        self.worker_module = worker_module or os.environ.get(WORKER_VARIABLE, WORKER_MODULE)
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
            env=fingerprint(
                tf32=spec.settings.tf32, backends=tuple(sorted({c.backend for c in spec.cells}))
            ),
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
        todo, missing = pending_cells(self.store, spec, run_id, cells, retry_failed=retry_failed)
        summary = RunSummary(run_id, total=len(todo), skipped_done=len(todo) - len(missing))
        run_dir = self.out_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        session = _Session(self, spec, run_id, run_dir, summary, progress, missing)
        try:
            session.run()
        finally:
            session.close()
            summary.wall_s = time.perf_counter() - start
        finish_if_complete(self.store, spec, run_id)
        return summary

    def memory_limit_for(self, settings: RunSettings) -> int:
        if settings.memory_limit_gb > 0:
            return int(settings.memory_limit_gb * 2**30)
        return self.memory_limit


class _Session:
    """One invocation of `Runner.run`: the phases, the live worker, the bookkeeping."""

    def __init__(
        self,
        runner: Runner,
        spec: Spec,
        run_id: str,
        run_dir: Path,
        summary: RunSummary,
        progress: Progress | None,
        missing: list[Cell],
    ) -> None:
        self.runner = runner
        self.store = runner.store
        self.settings = spec.settings
        self.run_id = run_id
        self.run_dir = run_dir
        self.summary = summary
        self.progress = progress
        self.absent = [c for c in missing if not installed(c.backend)]
        missing = [c for c in missing if installed(c.backend)]
        self.timing = [c for c in missing if c.pass_ in TIMING_PASSES]
        self.fits = [c for c in missing if c.pass_ not in TIMING_PASSES]
        # probes and canaries run on one backend for the whole run, so they stay comparable
        backends_used = sorted({c.backend for c in missing}, key=lambda b: b != DEFAULT_BACKEND)
        self.reference_backend = backends_used[0] if backends_used else DEFAULT_BACKEND
        self.stored = self.store.rounds(run_id)  # cell id -> round -> reply (resume)
        # a reference cell's round so far, from the round's earlier blocks (joined by
        # `_store_round`); a resumed round starts afresh
        self.earlier_blocks: dict[tuple[str, int], dict[str, Any]] = {}
        self.final: set[str] = set()  # cells recorded whole during this session
        self.worker: Worker | None = None
        self.worker_bfc = False
        self.worker_backend = DEFAULT_BACKEND
        self.start_failures = 0
        self.probed = set(self.store.probes(run_id))
        self.canary_seq = len(self.store.canaries(run_id))
        self.counters: CpuCounters | None = None
        rounds = self.settings.rounds
        self.units = len(self.fits) + sum(
            rounds - len(self.stored.get(c.cell_id, {})) + 1 for c in self.timing
        )
        self.done_units = 0

    # -- phases ---------------------------------------------------------------------
    def run(self) -> None:
        for cell in self.absent:  # a backend that is not installed: said plainly, per cell
            self._record(cell, CellResult("skipped", reason=missing_reason(cell.backend),
                                          wall_s=0.0))  # fmt: skip
        for round_ in range(1, self.settings.rounds + 1):
            self._phase("rounds", lambda r=round_: self._round(r))
        if self.timing and self.settings.canary:
            self._canary("end", self.settings.rounds)
        self._close_worker()
        self._phase("extras", self._extras)
        self._phase("fit", self._fit_cells)

    def _phase(self, name: str, body: Callable[[], None]) -> None:
        start = time.perf_counter()
        try:
            body()
        finally:
            elapsed = time.perf_counter() - start
            self.summary.phases_s[name] = self.summary.phases_s.get(name, 0.0) + elapsed

    def _round(self, round_: int) -> None:
        cells = [
            c
            for c in round_order(self.timing, self.settings, round_)
            if c.cell_id not in self.final and round_ not in self.stored.get(c.cell_id, {})
        ]
        if not cells:
            return
        self._close_worker()  # every round starts in a fresh process
        if self.settings.canary:
            self._canary("before round", round_)
        position = 0
        references = [c for c in cells if is_reference(c)]
        cells = [c for c in cells if not is_reference(c)]
        for index, block in enumerate(visit_blocks(cells, self.settings.visits)):
            block = with_references(block, references, f"{self.settings.seed}:{round_}:{index}")
            kept: list[tuple[Cell, Reply]] = []
            for cell in block:
                position += 1
                if cell.cell_id in self.final:
                    continue
                if cell.device not in self.probed:
                    self._probe(cell.device)
                self._tick(cell, None)
                steps = self._stored_steps(cell)
                request = {"op": "round", "cell": cell.to_dict(), "round": round_,
                           "position": position - 1, "steps": steps,
                           "keep": self.settings.visits > 1}  # fmt: skip
                reply = self._ask(cell, request, bfc=False)
                self.done_units += 1
                if reply.status == "ok":
                    self._store_round(cell, round_, reply)  # the first visit, kept at once
                    kept.append((cell, reply))
                else:  # failed or skipped: final now, no later rounds
                    self._record(cell, CellResult(reply.status, reply.reason, reply.traceback,
                                                  warnings=reply.warnings))  # fmt: skip
            if self.settings.visits > 1:
                for cell, reply in self._revisit(kept, round_):
                    self._store_round(cell, round_, reply)  # replaces the first visit's
                    self._tick(cell, None)
            for cell, _ in kept:  # a reference's samples of the next block join these
                if is_reference(cell) and round_ in self.stored.get(cell.cell_id, {}):
                    self.earlier_blocks[(cell.cell_id, round_)] = self.stored[cell.cell_id][round_]

    def _store_round(self, cell: Cell, round_: int, reply: Reply) -> None:
        stored = asdict(reply)
        earlier = self.earlier_blocks.get((cell.cell_id, round_))
        if earlier is not None and reply.status == "ok":  # the reference, in a later block
            stored = asdict(joined(Reply.from_dict(earlier), reply))
        self.store.record_round(self.run_id, cell, round_, stored)
        self.stored.setdefault(cell.cell_id, {})[round_] = stored

    def _revisit(self, kept: list[tuple[Cell, Reply]], round_: int) -> list[tuple[Cell, Reply]]:
        """Visits 2.. of a block's cells, each visit a sweep over the block in a new
        shuffled order, adding ``repeats`` samples per cell per visit; then the worker
        forgets the programs. A cell whose later visit fails keeps the samples it has.

        Visit 2 starts each cell with ``warmup`` (at least 1) discarded samples again: the
        first call of a program after the rest of its block was built and compiled ran
        2.9x slower on average (30 cells, 3 rounds, measured here), whatever the cell."""
        replies = dict(kept)
        visits = self.settings.visits
        if visits < 2 or not kept:
            return kept
        lost: set[str] = set()
        for visit in range(2, visits + 1):
            order = [cell for cell, _ in kept]
            random.Random(f"{self.settings.seed}:{round_}:visit{visit}").shuffle(order)
            for cell in order:
                if cell.cell_id in lost:
                    continue
                rewarm = max(1, self.settings.warmup) if visit == 2 else 0
                visited = self._sample_visit(cell, warmup=rewarm)
                if visited is None:
                    lost.add(cell.cell_id)
                    continue
                more, at = visited
                old = replies[cell].round
                replies[cell] = replace(replies[cell], round=replace(
                    old, samples_s=old.samples_s + more, visits=old.visits + 1,
                    sampled_at=old.sampled_at + at if old.timed and at else ()))  # fmt: skip
        worker = self.worker
        if worker is not None and worker.process.poll() is None:
            try:
                self._exchange(worker, {"op": "drop"})
            except (TimeoutError, MemoryError, WorkerDied) as error:
                self._death(error, time.perf_counter())
        return [(cell, replies[cell]) for cell, _ in kept]

    def _sample_visit(
        self, cell: Cell, *, warmup: int
    ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """More samples of a kept cell from the live worker (after ``warmup`` discarded
        ones) and their start times (empty if the worker sent none); None when it cannot
        give them (the worker died or restarted since, and the program is gone)."""
        worker = self.worker
        if worker is None or worker.process.poll() is not None:
            return None
        start = time.perf_counter()
        try:
            reply = self._exchange(worker, {"op": "sample", "cell_id": cell.cell_id,
                                            "count": self.settings.repeats,
                                            "warmup": warmup})  # fmt: skip
        except (TimeoutError, MemoryError, WorkerDied) as error:
            self._death(error, start)
            return None
        self.summary.cells_s += time.perf_counter() - start
        samples = reply.get("samples_s")
        if not samples:
            return None
        at = reply.get("sampled_at") or ()
        return tuple(float(v) for v in samples), tuple(float(t) for t in at)

    def _extras(self) -> None:
        """Each timing cell's extras, by backend (the run's own first). Profiled cells
        come last in their backend: each needs a worker of its own, so none of them
        leaves the others a fresh worker to start (in `quick`, 4 starts instead of 7)."""

        def order(cell: Cell) -> tuple[bool, str, bool]:
            return cell.backend != self.reference_backend, cell.backend, cell.profile

        for cell in sorted(self.timing, key=order):
            if cell.cell_id in self.final:
                continue
            self._tick(cell, None)
            if cell.profile:
                self._close_worker()  # its profile shows only its own memory
            start = time.perf_counter()
            extras = None  # the reference workload needs no memory, profile or XLA check
            if not is_reference(cell):
                extras = self._ask(cell, {"op": "extras", "cell": cell.to_dict()}, bfc=True)
            if cell.profile:
                self._close_worker()
            self.done_units += 1
            replies = [Reply.from_dict(r) for _, r in sorted(self.stored[cell.cell_id].items())]
            result = assemble(replies[0].costs, replies, extras)
            wall = sum(_round_wall(r) for r in replies) + time.perf_counter() - start
            self._record(cell, CellResult(**{**vars(result), "wall_s": wall}))

    def _fit_cells(self) -> None:
        """Fit cells go to a worker by configuration: the seeds of one ``group_id``
        together (the worker may train them as one stacked model)."""
        groups: dict[str, list[Cell]] = {}
        for cell in self.fits:
            groups.setdefault(cell.group_id, []).append(cell)
        for cells in groups.values():
            self._tick(cells[0], None)
            worker = self._worker(bfc=False, backend=cells[0].backend)
            if worker is None:
                for cell in cells:
                    self._record(cell, CellResult("failed", reason=self._start_failure,
                                                  wall_s=0.0))  # fmt: skip
                continue
            start = time.perf_counter()
            request = {"op": "fit_group", "cells": [c.to_dict() for c in cells]}
            try:
                reply = self._exchange(worker, request, timeout_s=self.settings.timeout_s
                                       * len(cells))  # fmt: skip
                if reply.get("op") != "results" or len(reply.get("results", ())) != len(cells):
                    raise WorkerDied(f"worker replied {str(reply)[:200]!r} instead of results")
                results = [CellResult.from_dict(r) for r in reply["results"]]
                self.summary.cells_s += time.perf_counter() - start
            except (TimeoutError, MemoryError, WorkerDied) as error:
                failed = self._death(error, start)
                results = [failed] * len(cells)
            for cell, result in zip(cells, results, strict=True):
                self.done_units += 1
                self._record(cell, result)

    # -- workers --------------------------------------------------------------------
    def _ask(self, cell: Cell, request: dict[str, Any], *, bfc: bool) -> Reply:
        """Send one request for ``cell``; a dead, hung or bloated worker becomes a failed
        reply (with the log tail) and the next request gets a fresh worker."""
        worker = self._worker(bfc=bfc, backend=cell.backend)
        if worker is None:
            return Reply("failed", reason=self._start_failure.partition("\n")[0],
                         traceback=self._start_failure.partition("\n")[2])  # fmt: skip
        start = time.perf_counter()
        try:
            reply = self._exchange(worker, request)
            if reply.get("op") != "reply":
                raise WorkerDied(f"worker replied {reply!r} instead of a reply")
            parsed = Reply.from_dict(reply["reply"])
        except (TimeoutError, MemoryError, WorkerDied) as error:
            failed = self._death(error, start)
            return Reply("failed", reason=failed.reason, traceback=failed.traceback)
        self.summary.cells_s += time.perf_counter() - start
        return parsed

    def _exchange(
        self, worker: Worker, request: dict[str, Any], *, timeout_s: float | None = None
    ) -> dict[str, Any]:
        self._log_offset = _size(worker.log_path)
        worker.send(request)
        limit = self.runner.memory_limit_for(self.settings)
        return worker.receive(timeout_s or self.settings.timeout_s, memory_limit=limit)

    def _death(self, error: Exception, start: float) -> CellResult:
        worker = self.worker
        tail = _read_from(worker.log_path, self._log_offset)[-LOG_TAIL_CHARS:] if worker else ""
        if worker is not None:
            worker.kill()
            worker.close()
        self.worker = None
        elapsed = time.perf_counter() - start
        self.summary.cells_s += elapsed
        return CellResult("failed", reason=str(error), traceback=tail, wall_s=elapsed)

    def _worker(
        self, *, bfc: bool, backend: str | None = None, counted: bool = True
    ) -> Worker | None:
        """The live worker, or a fresh one; ``None`` when one cannot start (a cell's
        request counts toward the consecutive start failures that stop the run).
        ``backend`` None: the run's reference backend (probes, canaries)."""
        backend = backend or self.reference_backend
        if self.worker is not None and (self.worker_bfc != bfc or self.worker_backend != backend):
            self._close_worker()
        if self.worker is not None and self.worker.process.poll() is None:
            return self.worker
        start = time.perf_counter()
        try:
            self.worker = Worker.start(self.settings, self.run_dir, python=self.runner.python,
                                       module=self.runner.worker_module, bfc=bfc,
                                       backend=backend)  # fmt: skip
            self.worker_bfc = bfc
            self.worker_backend = backend
            self.start_failures = 0
            return self.worker
        except WorkerDied as error:
            self.worker = None
            self.start_failures += counted
            self._start_failure = str(error)
            return None
        finally:
            self.summary.startup_s += time.perf_counter() - start

    def _close_worker(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def close(self) -> None:
        self._close_worker()

    # -- probes and canaries ----------------------------------------------------------
    def _probe(self, device: str) -> None:
        """Measure the device's peak once per run; a failure is stored with its reason."""
        self.probed.add(device)
        worker = self._worker(bfc=False, counted=False)
        start = time.perf_counter()
        try:
            if worker is None:
                raise WorkerDied(self._start_failure.partition("\n")[0])
            reply = self._exchange(worker, {"op": "probe", "device": device})
            probe = reply.get("probe") or {"peak_flops": None, "reason": str(reply)}
        except (TimeoutError, MemoryError, WorkerDied) as error:
            self._death(error, start)
            probe = {"peak_flops": None, "reason": f"probe failed: {error}"}
        self.summary.startup_s += time.perf_counter() - start
        self.store.set_probe(self.run_id, device, probe.get("peak_flops"), probe)

    def _canary(self, when: str, round_: int) -> None:
        """Time the canary (a fixed matmul chain), with the machine's state since the last one."""
        worker = self._worker(bfc=False, counted=False)
        start = time.perf_counter()
        detail: dict[str, Any] = {"when": when, "round": round_}
        try:
            if worker is None:
                raise WorkerDied(self._start_failure.partition("\n")[0])
            reply = self._exchange(worker, {"op": "canary"})
            detail.update(reply.get("canary") or {"reason": str(reply)})
        except (TimeoutError, MemoryError, WorkerDied) as error:
            self._death(error, start)
            detail["reason"] = f"canary failed: {error}"
        now = CpuCounters.read(own_cpu_s=self._own_cpu())
        if self.counters is not None:
            detail["machine"] = asdict(machine_state(self.counters, now))
        self.counters = now
        self.store.record_canary(self.run_id, self.canary_seq, detail)
        self.canary_seq += 1
        self.summary.startup_s += time.perf_counter() - start

    def _own_cpu(self) -> float:
        """CPU seconds used by this runner and every worker it started (dead ones too)."""
        me = psutil.Process()
        times = me.cpu_times()
        return (
            times.user
            + times.system
            + times.children_user
            + times.children_system
            + (self.worker.cpu_seconds() if self.worker else 0.0)
        )

    # -- bookkeeping ------------------------------------------------------------------
    def _stored_steps(self, cell: Cell) -> int | None:
        """K from the cell's earliest stored round, so every round times the same work."""
        rounds = self.stored.get(cell.cell_id, {})
        for _, reply in sorted(rounds.items()):
            steps = (reply.get("round") or {}).get("steps_per_sample")
            if steps:
                return int(steps)
        return None

    def _record(self, cell: Cell, result: CellResult) -> None:
        self.store.record(self.run_id, cell, result)
        if self.start_failures >= MAX_START_FAILURES:
            raise RunnerError(
                f"{self.start_failures} workers in a row failed to start "
                f"({self._start_failure.partition(chr(10))[0]}); finished cells are stored; "
                f"see {self.run_dir / 'worker.log'}"
            )
        self.final.add(cell.cell_id)
        self.summary.ran += 1
        self.summary.counts[result.status] = self.summary.counts.get(result.status, 0) + 1
        if cell.pass_ in TIMING_PASSES and result.status != "ok":
            # a round failed: the cell's later rounds and its extras will not run
            self.done_units += max(0, self.settings.rounds - len(self.stored.get(cell.cell_id, {})))
        self._tick(cell, result)

    def _tick(self, cell: Cell, result: CellResult | None) -> None:
        if self.progress:
            self.progress(min(self.done_units, self.units), self.units, cell, result)


def _round_wall(reply: Reply) -> float:
    return reply.round.work_s if reply.round is not None else 0.0


# Cells whose programs one worker keeps alive at once between visits: a visit is a sweep
# over them, so the longer the block, the further apart in time a cell's samples lie.
VISIT_BLOCK = 64


def visit_blocks(cells: Sequence[Cell], visits: int) -> list[list[Cell]]:
    """The round's cells in blocks visited together: with one visit, one block; else runs
    of at most `VISIT_BLOCK` consecutive cells of one backend (one worker keeps their
    compiled programs between visits).

    >>> cells = [Cell("dense", (("units", u),), (4,), 2, "train") for u in range(1, 15)]
    >>> [len(b) for b in visit_blocks(cells, 1)], [len(b) for b in visit_blocks(cells, 3)]
    ([14], [14])
    >>> [len(b) for b in visit_blocks(cells * 5, 3)]
    [64, 6]
    """
    if visits < 2:
        return [list(cells)] if cells else []
    blocks: list[list[Cell]] = []
    for cell in cells:
        if blocks and len(blocks[-1]) < VISIT_BLOCK and blocks[-1][-1].backend == cell.backend:
            blocks[-1].append(cell)
        else:
            blocks.append([cell])
    return blocks


def with_references(block: Sequence[Cell], references: Sequence[Cell], seed: str) -> list[Cell]:
    """A visit block with the reference cells of its backends and devices inserted at
    places drawn from ``seed``, each among its backend's cells (a backend's cells run
    in one worker, one after another): every block samples the reference beside them.

    >>> from bench.spec.reference import reference_cells
    >>> cells = [Cell("dense", (("units", u),), (4,), 2, "train") for u in range(1, 5)]
    >>> mixed = with_references(cells, reference_cells(cells), "0:1:0")
    >>> len(mixed), sorted(c.block for c in mixed).count("reference")
    (6, 2)
    """
    mixed = list(block)
    rng = random.Random(seed)
    for reference in references:
        # among the cells of its backend, which run in one worker one after another
        span = [i for i, c in enumerate(mixed) if c.backend == reference.backend]
        if any(mixed[i].device == reference.device for i in span):
            mixed.insert(rng.randint(span[0], span[-1] + 1), reference)
    return mixed


def shard(cells: Sequence[Cell], index: int, count: int) -> list[Cell]:
    """The deterministic ``index``-th of ``count`` shards (1-based), balanced by cell id.

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
    return str(Path(__file__).resolve().parents[2])


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
