"""TensorBoard on loopback lists profiled cells by name and serves their memory profile."""

import gzip
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import psutil
import pytest

from bench.spec.cell import Cell
from bench.spec.config import RunSettings
from bench.tools import tensorboard
from bench.tools.tensorboard import serve, tensorboard_main
from bench.worker.execute import CellContext, run_cell

SETTINGS = RunSettings(repeats=2, warmup=0, min_sample_s=0.01, fit_step=False, profile_steps=2)
CELL = Cell("dense", (("units", 16),), (8,), 4, "train", profile=True)


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        body = reply.read()
        if reply.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return json.loads(body)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """``<out>/<run id>`` holding one profiled cell."""
    run_dir = tmp_path_factory.mktemp("out") / "20250101-000000-memory"
    result = run_cell(CELL, CellContext(settings=SETTINGS, run_dir=run_dir))
    assert result.status == "ok" and result.timing.profile is not None, result.warnings
    return run_dir


@pytest.fixture(scope="module")
def server(run_dir):
    with serve(run_dir / "tensorboard", host="127.0.0.1", port=0) as handle:
        yield handle
    with pytest.raises(OSError):  # stopped: nothing listens there any more
        urllib.request.urlopen(handle.url, timeout=5)


@pytest.mark.slow
def test_profile_plugin_lists_the_cell_and_serves_its_memory_profile(server):
    assert server.url.startswith("http://127.0.0.1:")
    plugin = server.url + "data/plugin/profile/"
    assert get(plugin + "runs") == [CELL.slug]
    run = urllib.parse.quote(CELL.slug, safe="")
    assert "memory_profile" in get(f"{plugin}run_tools?run={run}")
    hosts = get(f"{plugin}hosts?run={run}&tag=memory_profile")
    host = urllib.parse.quote(hosts[0]["hostname"], safe="")
    profile = get(f"{plugin}data?run={run}&tag=memory_profile&host={host}")
    allocators = profile["memoryProfilePerAllocator"]
    peaks = [int(a["profileSummary"]["peakBytesUsageLifetime"]) for a in allocators.values()]
    assert max(peaks) > 0


@pytest.mark.slow
def test_server_listens_on_loopback_only(server):
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    outward = [
        address.address
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family == socket.AF_INET and not address.address.startswith("127.")
    ]
    if not outward:
        pytest.skip("no non-loopback IPv4 address on this machine")
    for address in outward:
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, port)) != 0, f"TensorBoard answers on {address}"


@pytest.mark.slow
def test_cli_serves_until_ctrl_c(run_dir):
    # SIGUSR1 makes the child print every thread's stack: the failure message shows where
    # a child that does not stop is stuck. The child takes Ctrl-C as a terminal's process
    # does: in the full suite the pytest process had SIGINT ignored (a child inherits an
    # ignored signal), and the child then slept through Ctrl-C (its stacks showed it).
    script = (
        "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, "
        "all_threads=True); signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from pathlib import Path; from bench.tools.tensorboard import "
        "tensorboard_main as main; "
        "sys.exit(main(Path(sys.argv[1]), sys.argv[2], host='127.0.0.1', port=0))"
    )
    command = [sys.executable, "-c", script, str(run_dir.parent), run_dir.name]
    log = open(run_dir.parent / "tensorboard-child.log", "w+")  # noqa: SIM115 - the child's
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        lines = queue.Queue()

        def drain() -> None:  # read every line, so the child never blocks on a full pipe
            for text in child.stdout:
                lines.put(text)

        threading.Thread(target=drain, daemon=True).start()
        line = lines.get(timeout=120)
        url = line.split()[-4].split("#")[0]  # "TensorBoard for run R: URL#profile  (Ctrl-C..."
        assert url.startswith("http://127.0.0.1:"), line
        assert get(url + "data/plugin/profile/runs") == [CELL.slug]
        child.send_signal(signal.SIGINT)
        try:
            code = child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGUSR1)
            time.sleep(2)
            log.seek(0)
            pytest.fail(
                f"TensorBoard did not stop after Ctrl-C; its threads:\n{log.read()[-6000:]}"
            )
        assert code == 0
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=5)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        log.close()


def test_tensorboard_main_reports_a_missing_run(tmp_path, capsys):
    (tmp_path / "20250101-quick").mkdir()
    assert tensorboard_main(tmp_path, "nope", host="127.0.0.1", port=0) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert tensorboard_main(tmp_path, "20250101-quick", host="127.0.0.1", port=0) == 2
    assert "no TensorBoard logs" in capsys.readouterr().err


def test_tensorboard_main_prints_the_url_and_stops_on_ctrl_c(tmp_path, monkeypatch, capsys):
    (tmp_path / "run" / "tensorboard").mkdir(parents=True)
    calls = []

    class FakeServer:
        url = "http://127.0.0.1:1234/"

        def stop(self):
            calls.append("stop")

    def fake_serve(logdir, *, host, port):
        calls.append((logdir, host, port))
        return FakeServer()

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(tensorboard, "serve", fake_serve)
    monkeypatch.setattr(tensorboard.time, "sleep", interrupt)
    assert tensorboard_main(tmp_path, "run", host="127.0.0.1", port=6006) == 0
    assert calls == [(tmp_path / "run" / "tensorboard", "127.0.0.1", 6006), "stop"]
    assert "http://127.0.0.1:1234/" in capsys.readouterr().out


def test_tensorboard_main_reports_a_port_in_use(tmp_path, capsys):
    (tmp_path / "run" / "tensorboard").mkdir(parents=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert tensorboard_main(tmp_path, "run", host="127.0.0.1", port=port) == 1
    assert "did not start" in capsys.readouterr().err
