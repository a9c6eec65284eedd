"""The worker process: imports one Keras backend once, then runs cells sent by the runner.

Protocol: one JSON object per line. The runner writes requests to the worker's stdin;
the worker answers on a private copy of its original stdout (fd 1 is pointed at stderr,
so nothing TensorFlow or a block prints can corrupt the channel).

Requests, one reply each:

- ``{"op": "round", "cell": {...}, "round": 2, "position": 5, "steps": 40}``: one timing
  round (``steps`` null: calibrate K); reply ``{"op": "reply", "reply": {...}}``;
  with ``"keep": true`` the worker keeps the compiled program for later visits;
- ``{"op": "sample", "cell_id": "...", "count": 3, "warmup": 1}``: a later visit of a
  kept cell (``warmup`` discarded samples first),
  reply ``{"op": "samples", "samples_s": [...], "sampled_at": [...]}`` (or ``"reason"``);
- ``{"op": "drop"}``: forget the kept programs; reply ``{"op": "dropped", "count": n}``;
- ``{"op": "extras", "cell": {...}}``: memory, XLA check, profile, Keras step; same reply;
- ``{"op": "cell", "cell": {...}}``: a fit cell whole; reply ``{"op": "result", ...}``;
- ``{"op": "fit_group", "cells": [...]}``: the seeds of one fit configuration, trained
  together; reply ``{"op": "results", "results": [...]}``, one per cell, in order;
- ``{"op": "probe", "device": "cpu"}``: the peak-FLOP probe;
- ``{"op": "canary"}``: the canary, a fixed matmul chain (`bench.measure.canary`);
- ``{"op": "exit"}``.

The first line the worker writes is ``{"op": "ready", ...}``. The backend is
``KERAS_BACKEND`` (default ``tensorflow``), set by the runner. The TF allocator is whatever
the runner chose through ``TF_CPU_ALLOCATOR_USE_BFC`` in the worker's environment: the
default one for timing rounds, BFC for the extras (its peak is measurable).

Run as ``python -m bench.worker SETTINGS_JSON RUN_DIR``.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import sys
from pathlib import Path
from typing import IO, Any


def _die_with_parent() -> None:
    """Ask Linux to kill this worker if the runner dies (no orphans measuring alone)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _private_channel() -> IO[str]:
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def _send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    channel = _private_channel()

    from bench.spec.config import RunSettings

    settings = RunSettings(**json.loads(args[0]))
    run_dir = Path(args[1])

    # The backend is fixed for the worker's life, before Keras is imported: the runner
    # starts one worker per backend (KERAS_BACKEND), and a jax worker never imports TF.
    backend_name = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from bench.measure import backends

    backend = backends.load(backend_name)
    backend.setup(settings)
    from bench.spec.cell import Cell
    from bench.spec.plugins import load_plugins
    from bench.worker.execute import (
        CellContext,
        drop_kept,
        run_cell,
        run_extras,
        run_fit_cells,
        run_round,
        sample_again,
    )

    load_plugins()
    # Everything imported so far lives as long as the worker: keep it out of the garbage
    # collector's scans, which otherwise cost ~0.4 s per cell (TensorFlow's object graph).
    gc.freeze()

    context = CellContext(settings=settings, run_dir=run_dir, backend=backend)
    _send(channel, {"op": "ready", "pid": os.getpid(), "gpu": backend.gpu_visible(),
                    "backend": backend_name})  # fmt: skip
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "exit":
            break
        if request["op"] in ("round", "extras", "cell"):
            cell = Cell.from_dict(request["cell"])
            print(f"--- {request['op']} {cell.cell_id} {cell.label}", file=sys.stderr, flush=True)
        if request["op"] == "round":
            reply = run_round(cell, context, round_=request["round"],
                              position=request["position"], steps=request.get("steps"),
                              keep=bool(request.get("keep")))  # fmt: skip
            _send(channel, {"op": "reply", "reply": dataclasses.asdict(reply)})
        elif request["op"] == "extras":
            _send(channel, {"op": "reply", "reply": dataclasses.asdict(run_extras(cell, context))})
        elif request["op"] == "cell":
            result = run_cell(cell, context)
            _send(channel, {"op": "result", "result": result.to_dict()})
        elif request["op"] == "fit_group":
            cells = [Cell.from_dict(c) for c in request["cells"]]
            print(f"--- fit_group {' '.join(c.cell_id for c in cells)}", file=sys.stderr,
                  flush=True)  # fmt: skip
            results = run_fit_cells(cells, context)
            _send(channel, {"op": "results", "results": [r.to_dict() for r in results]})
        elif request["op"] == "sample":
            samples = sample_again(request["cell_id"], context, int(request["count"]),
                                   warmup=int(request.get("warmup", 0)))  # fmt: skip
            _send(channel, {"op": "samples", **samples})
        elif request["op"] == "drop":
            _send(channel, {"op": "dropped", "count": drop_kept(context)})
        elif request["op"] == "canary":
            _send(channel, {"op": "canary", "canary": backend.canary()})
        elif request["op"] == "probe":
            _send(channel, {"op": "probe", "probe": backend.peak_flops(request["device"])})
        else:
            _send(channel, {"op": "error", "reason": f"unknown op {request['op']!r}"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
