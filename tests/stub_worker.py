"""A stub worker that speaks the real worker's protocol without TensorFlow.

The runner's fault isolation, rounds, resume and bookkeeping do not depend on what a
worker measures, so their tests run this in place of ``bench.worker`` (Runner's
``worker_module``, or ``BLOCKBENCH_WORKER_MODULE`` for the CLI): it starts in a fraction of
a second. Cells of the ``fault`` plugin block misbehave as the block's ``mode`` says
(see tests/plugins/fault_blocks.py) when their first round or their fit runs; every other
cell gets made-up samples around ``1 ms × units`` (or ``batch_size``).

Run as ``python -m tests.stub_worker SETTINGS_JSON RUN_DIR``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import sys
import time
import traceback

from bench.results.records import (
    CellCosts,
    CellExtras,
    CellResult,
    FitResult,
    MemoryResult,
    Reply,
    RoundResult,
)
from bench.spec.cell import Cell
from bench.worker.__main__ import _die_with_parent


def _misbehave(cell: Cell) -> None:
    knobs = cell.knob_dict
    mode = knobs.get("mode", "ok")
    if mode == "raise":
        raise RuntimeError("fault block raised on purpose")
    if mode == "exit":
        os._exit(3)
    if mode == "segfault":
        ctypes.string_at(0)
    if mode == "hang":
        time.sleep(3600)
    if mode == "oom":
        hog = []
        while True:
            hog.append(bytearray(b"\x01") * 2**27)  # 128 MiB, written so it is resident
    if mode == "sleep":
        time.sleep(float(knobs.get("seconds", 0.0)))


def _size(cell: Cell) -> float:
    return float(cell.knob_dict.get("units", cell.batch_size))


def _round(cell: Cell, request: dict) -> Reply:
    if cell.device == "gpu":
        return Reply("skipped", reason="no GPU visible")
    worker_backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if cell.backend != worker_backend:  # the runner must send a cell to its backend's worker
        return Reply("failed", reason=f"a {cell.backend} cell reached a {worker_backend} worker")
    try:
        _misbehave(cell)
    except RuntimeError as error:
        return Reply("failed", reason=f"RuntimeError: {error}", traceback=traceback.format_exc())
    base = 1e-3 * _size(cell) * (1 + 0.01 * request["round"])
    result = RoundResult(
        round=request["round"],
        pid=os.getpid(),
        position=request["position"],
        started_at=time.time(),
        build_s=0.01,
        compile_s=0.02,
        steps_per_sample=request.get("steps") or 10,
        samples_s=(base, base * 1.01, base * 0.99),
        warmup_s=(base,),
        sampled_at=tuple(time.time() for _ in range(3)),  # in order, as a worker's
    )
    costs = CellCosts(params=int(_size(cell)) * 10, params_trainable=int(_size(cell)) * 10,
                      flops=100, flops_per_step=100 * cell.batch_size)  # fmt: skip
    return Reply("ok", round=result, costs=costs)


def _extras(cell: Cell) -> Reply:
    memory = MemoryResult(peak_bytes=4096, allocator="stub", rss_peak_bytes=1 << 20,
                          peak_bytes_estimate=2048)  # fmt: skip
    return Reply("ok", extras=CellExtras(memory=memory, tf32=False))


def _fit(cell: Cell) -> CellResult:
    _misbehave(cell)
    fit = FitResult(params=10, metric="accuracy", epochs_run=1, curves={}, final_val_metric=0.5,
                    best_val_metric=0.5, best_epoch=1, test_metric=0.5, gap_end=0.0,
                    gap_best=0.0, onset_epoch=None, memorisation=None, fit_wall_s=0.01)  # fmt: skip
    return CellResult("ok", fit=fit)


def main() -> int:
    _die_with_parent()
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(message: dict) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    print(f"--- worker {os.getpid()}", file=sys.stderr, flush=True)
    send({"op": "ready", "pid": os.getpid(), "gpu": False,
          "backend": os.environ.get("KERAS_BACKEND", "tensorflow")})  # fmt: skip
    kept: dict[str, float] = {}  # cell id -> its first sample (programs kept for visits)
    warmed: set[str] = set()  # kept cells called again since the block was built
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "exit":
            break
        cell = Cell.from_dict(request["cell"]) if "cell" in request else None
        if cell is not None:
            print(f"--- {op} {cell.cell_id} {cell.label}", file=sys.stderr, flush=True)
        if op == "round":
            reply = _round(cell, request)
            if request.get("keep") and reply.status == "ok":
                kept[cell.cell_id] = reply.round.samples_s[0]
            send({"op": "reply", "reply": dataclasses.asdict(reply)})
        elif op == "sample":
            if request["cell_id"] in kept:
                value = kept[request["cell_id"]]
                samples = [value * 1.002] * request["count"]
                # as a real worker: the first call after the other programs were built is
                # slow, unless warm-up samples are asked for and discarded
                if request["cell_id"] not in warmed and not request.get("warmup"):
                    samples[0] = value * 3.0
                warmed.add(request["cell_id"])
                send(
                    {
                        "op": "samples",
                        "samples_s": samples,
                        "sampled_at": [time.time() for _ in samples],
                    }
                )
            else:
                send({"op": "samples", "reason": "no kept program"})
        elif op == "drop":
            send({"op": "dropped", "count": len(kept)})
            kept.clear()
            warmed.clear()
        elif op == "extras":
            send({"op": "reply", "reply": dataclasses.asdict(_extras(cell))})
        elif op == "cell":
            send({"op": "result", "result": _fit(cell).to_dict()})
        elif op == "fit_group":
            cells = [Cell.from_dict(c) for c in request["cells"]]
            print(f"--- fit_group {' '.join(c.cell_id for c in cells)}", file=sys.stderr)
            send({"op": "results", "results": [_fit(c).to_dict() for c in cells]})
        elif op == "probe":
            send({"op": "probe", "probe": {"peak_flops": 1e9}})
        elif op == "canary":
            send({"op": "canary", "canary": {"samples_s": [1e-3], "median_s": 1e-3}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
