"""Serve a run's TensorBoard log directory (the profiles of its cells) on loopback.

TensorBoard runs in this process through its own program API
(``tensorboard.program.TensorBoard``): ``serve`` returns a stoppable server for tests and
tools, ``tensorboard_main`` serves until Ctrl-C for ``blockbench tensorboard RUN``. Nothing
outlives the process: the server is a thread of it, and TensorBoard's separate data server
is not started (``load_fast=false``; the profile plugin reads the log directory itself).

The log directory of a run is ``<out_dir>/<run_id>/tensorboard``; each profiled cell is a
profile run named by its readable slug there (see `bench.measure.profiling`). Starting
TensorBoard loads its plugins, TensorFlow among them, which takes a few seconds, so the
examples here only check the arguments:

>>> tensorboard_main(Path("/nonexistent"), "20250101-quick", host="127.0.0.1", port=0)
2
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tensorboard import program


@dataclass
class TensorBoardServer:
    """A TensorBoard serving in a thread of this process: ``url`` and ``stop()``.

    Use it as a context manager (``with serve(logdir) as server: ...``) to stop it.
    """

    url: str
    _server: Any = field(repr=False)

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TensorBoardServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(logdir: Path, *, host: str = "127.0.0.1", port: int = 0) -> TensorBoardServer:
    """Start TensorBoard on ``logdir``, bound to ``host`` only; ``port=0`` picks a free port.

    Returns once the socket is bound (``url`` carries the real port). Raises
    ``tensorboard.program.TensorBoardServerException`` if it cannot bind.
    """
    made: list[program.WerkzeugServer] = []

    def server_class(app: Any, flags: Any) -> program.WerkzeugServer:
        made.append(program.WerkzeugServer(app, flags))  # kept, to stop it later
        return made[-1]

    board = program.TensorBoard(server_class=server_class)
    # Event files are read once, here, instead of by a reload thread: a daemon thread
    # inside TensorFlow's file system aborts the interpreter at exit ("terminate called").
    # The profile plugin reads the log directory on each request regardless.
    board.configure(
        logdir=str(logdir),
        host=host,
        port=port,
        load_fast="false",
        reload_task="blocking",
        reload_interval=0,
    )
    url = board.launch()
    return TensorBoardServer(url, made[0])


def tensorboard_main(out_dir: Path, run_id: str, *, host: str, port: int) -> int:
    """``blockbench tensorboard RUN_ID``: serve the run's profiles until Ctrl-C.

    Returns 0 after Ctrl-C, 2 when the run or its logs are missing, 1 when TensorBoard
    cannot start.
    """
    out_dir = Path(out_dir)
    run_dir = out_dir / run_id
    if not run_dir.is_dir():
        runs = sorted(p.name for p in out_dir.iterdir() if p.is_dir()) if out_dir.is_dir() else []
        hint = f"; runs there: {', '.join(runs[-5:])}" if runs else ""
        print(f"blockbench tensorboard: no run {run_id!r} in {out_dir}{hint}", file=sys.stderr)
        return 2
    logdir = run_dir / "tensorboard"
    if not logdir.is_dir():
        print(
            f"blockbench tensorboard: run {run_id!r} has no TensorBoard logs ({logdir} is "
            "missing); profile cells with `profile = true` in the config",
            file=sys.stderr,
        )
        return 2
    try:
        server = serve(logdir, host=host, port=port)
    except KeyboardInterrupt:
        return 130
    except program.TensorBoardServerException as error:  # e.g. the port is taken
        print(f"blockbench tensorboard: TensorBoard did not start: {error.msg}", file=sys.stderr)
        return 1
    except ValueError as error:  # a flag TensorBoard rejects
        print(f"blockbench tensorboard: TensorBoard did not start: {error}", file=sys.stderr)
        return 1
    print(f"TensorBoard for run {run_id}: {server.url}#profile  (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
