"""Serve a run's TensorBoard log directory (profiles of its cells) on loopback.

The log directory of a run is ``<out_dir>/<run_id>/tensorboard``; each profiled cell is a
profile run named by its readable slug there (see `bench.measure.profiling`).

>>> # server = serve(Path("results/20250101-quick/tensorboard"))
>>> # print(server.url); server.stop()
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

START_TIMEOUT_S = 90.0  # TensorBoard imports TensorFlow and its plugins first
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3  # a port picked free can be taken before TensorBoard binds it
_LAUNCHER = """
import ctypes, runpy, signal, sys
try:  # PR_SET_PDEATHSIG: SIGTERM when the thread that started us exits
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
except (OSError, AttributeError):
    pass
sys.argv[0] = "tensorboard"
runpy.run_module("tensorboard.main", run_name="__main__", alter_sys=True)
"""


class TensorBoardServer:
    """A running TensorBoard subprocess: ``url``, ``stop()``, and Popen's basics.

    TensorBoard runs in its own process group (``stop()`` ends the group) and is sent
    SIGTERM by Linux when the thread that started it exits, so it is never left behind.

    >>> # with serve(logdir) as server:
    >>> #     urllib.request.urlopen(server.url + "data/plugin/profile/runs")
    """

    def __init__(self, process: subprocess.Popen, url: str, log_path: Path):
        self.process = process
        self.url = url
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of TensorBoard's own output (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        """Stop TensorBoard and any helper it started (its own process group); idempotent."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT_S)
        _signal_group(self.process, signal.SIGKILL)  # helpers left in the group, if any
        try:
            self.log_path.unlink()
        except OSError:
            pass
        return self.process.returncode

    def __enter__(self) -> TensorBoardServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    logdir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout_s: float = START_TIMEOUT_S,
) -> TensorBoardServer:
    """Start TensorBoard on ``logdir`` and return once it answers HTTP.

    Binds only ``host`` (loopback unless asked otherwise). ``port=0`` picks a free port.
    Raises ``RuntimeError`` with TensorBoard's output if it exits or does not answer
    within ``timeout_s``.

    >>> # server = serve(Path("results/run/tensorboard")); server.url
    >>> # 'http://127.0.0.1:41234/'
    """
    attempts = PORT_ATTEMPTS if port == 0 else 1
    error: RuntimeError | None = None
    for _ in range(attempts):
        chosen = port or free_port(host)
        server = _launch(Path(logdir), host, chosen)
        try:
            _wait_until_up(server, timeout_s)
            return server
        except RuntimeError as failure:
            error = failure
            server.stop()
        except BaseException:  # e.g. Ctrl-C while waiting: leave nothing running
            server.stop()
            raise
    assert error is not None
    raise error


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on at ``host`` right now (the OS picks it).

    >>> 0 < free_port() < 65536
    True
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tensorboard_main(out_dir: Path, run_id: str, *, host: str, port: int) -> int:
    """``blockbench tensorboard RUN_ID``: serve the run's profiles until Ctrl-C.

    >>> # tensorboard_main(Path("results"), "20250101-quick", host="127.0.0.1", port=0)
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
    except RuntimeError as error:
        print(f"blockbench tensorboard: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"TensorBoard for run {run_id}: {server.url}#profile  (Ctrl-C to stop)", flush=True)
    previous = _interrupt_on_termination()
    try:
        while server.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.stop()
        return 0
    finally:
        _restore(previous)
    code = server.returncode
    print(
        f"blockbench tensorboard: TensorBoard exited ({code})\n{server.log_tail()}", file=sys.stderr
    )
    server.stop()
    return 1 if code else 0


# -- helpers -------------------------------------------------------------------------
def _launch(logdir: Path, host: str, port: int) -> TensorBoardServer:
    log = tempfile.NamedTemporaryFile(prefix="blockbench-tensorboard-", suffix=".log", delete=False)
    arguments = ["--logdir", str(logdir), "--host", host, "--port", str(port)]
    # `python -m tensorboard.main ARGS`, after asking Linux to end it with its parent
    command = [sys.executable, "-c", _LAUNCHER, *arguments]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    with log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own group: stop() reaches the data server too
        )
    return TensorBoardServer(process, f"http://{_url_host(host)}:{port}/", Path(log.name))


def _wait_until_up(server: TensorBoardServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"TensorBoard exited with code {server.returncode} before answering at "
                f"{server.url}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url + "data/environment", timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"TensorBoard did not answer at {server.url} within {timeout_s:.0f} s:\n{server.log_tail()}"
    )


def _interrupt_on_termination() -> dict[int, object]:
    """Treat SIGTERM and SIGHUP like Ctrl-C, so TensorBoard is stopped, not orphaned."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, interrupt)
        except ValueError:  # not the main thread: leave the handlers alone
            break
    return previous


def _restore(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the group we created with start_new_session
    except (ProcessLookupError, PermissionError):
        pass


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
