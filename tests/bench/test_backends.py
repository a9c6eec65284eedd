"""The backend axis without any backend but TensorFlow installed: config, cell ids and
labels, round order, the runner's per-backend workers (stub worker), and the report's
backend comparison on literal measurements. The JAX path itself is tests/backends."""

import random
from pathlib import Path

import pytest

from bench.orchestrate import runner as runner_module
from bench.orchestrate.runner import Runner, round_order
from bench.results.records import CellResult
from bench.results.store import Store, StoredCell, store_path
from bench.spec.cell import Cell
from bench.spec.config import ConfigError, RunSettings, loads
from bench.spec.reference import is_reference
from reports.backends import backend_section
from tests.records import timing_result

PLUGIN = str(Path(__file__).resolve().parent.parent / "plugins" / "fault_blocks.py")

MATRIX = """
[[matrix]]
block = "dense"
input_shape = [8]
units = [4, 8]
batch_size = 2
pass = "train"
backend = ["tensorflow", "jax"]
xla = true
"""


def test_the_backend_axis_expands_and_names_its_cells():
    spec = loads(MATRIX, source="b.toml")
    labels = sorted(c.label for c in spec.cells if not is_reference(c))
    references = sorted((c.backend, c.pass_) for c in spec.cells if is_reference(c))
    assert references == [("jax", "forward"), ("jax", "train"),
                          ("tensorflow", "forward"), ("tensorflow", "train")]  # fmt: skip
    assert labels == [
        "dense units=4 b2 train cpu jax jit",
        "dense units=4 b2 train cpu xla",
        "dense units=8 b2 train cpu jax jit",
        "dense units=8 b2 train cpu xla",
    ]
    tf_cell = next(c for c in spec.cells if c.backend == "tensorflow")
    jax_cell = next(c for c in spec.cells if c.backend == "jax")
    # a TensorFlow cell's identity has no backend key, so ids from before the axis hold
    assert "backend" not in tf_cell.identity() and jax_cell.identity()["backend"] == "jax"
    assert Cell.from_dict(jax_cell.to_dict()) == jax_cell
    assert len({c.cell_id for c in spec.cells}) == 4 + 4  # the reference per backend too


def test_bad_backends_are_refused_before_anything_runs():
    with pytest.raises(ConfigError, match=r"backend = 'mxnet': expected one of \['tensorflow'"):
        loads(MATRIX.replace('"jax"]', '"mxnet"]'), source="b.toml")
    fit = """
[[matrix]]
block = "dense"
units = 4
pass = "fit"
dataset = "digits"
epochs = 1
batch_size = 8
backend = "jax"
"""
    with pytest.raises(ConfigError, match="fit cells train on the tensorflow backend only"):
        loads(fit, source="f.toml")


def test_a_round_runs_each_backend_as_one_block_in_a_shuffled_order():
    cells = [Cell("dense", (("units", u),), (4,), 2, "train", xla=True, backend=b)
             for u in range(1, 7) for b in ("tensorflow", "jax")]  # fmt: skip
    settings = RunSettings(seed=3)
    firsts = set()
    for round_ in range(1, 9):
        order = [c.backend for c in round_order(cells, settings, round_)]
        switches = sum(a != b for a, b in zip(order, order[1:], strict=False))
        assert switches == 1  # one worker per backend per round
        firsts.add(order[0])
    assert firsts == {"tensorflow", "jax"}  # neither backend always goes first
    # one backend: exactly the plain shuffle
    plain = [c for c in cells if c.backend == "jax"]
    expected = sorted(plain, key=lambda c: c.cell_id)
    random.Random(f"{settings.seed}:1").shuffle(expected)
    assert round_order(plain, settings, 1) == expected


RUN = """
[run]
rounds = 2
repeats = 2
warmup = 0
min_sample_s = 0.01
fit_step = false
memory = false
"""


def _run(tmp_path, text):
    spec = loads(text, source="b.toml", name="b")
    store = Store(store_path(tmp_path))
    runner = Runner(store, tmp_path, worker_module="tests.stub_worker")
    run_id = runner.prepare(spec)
    runner.run(spec, run_id)
    return store, run_id


def test_each_backend_runs_in_its_own_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "installed", lambda backend: True)
    store, run_id = _run(tmp_path, RUN + MATRIX)
    cells = store.cells(run_id)
    assert {s.result.status for s in cells} == {"ok"}  # the stub fails a cell in a wrong worker
    for round_ in (1, 2):
        pids = {b: {r.pid for s in cells if s.cell.backend == b
                    for r in s.result.timing.rounds if r.round == round_}
                for b in ("tensorflow", "jax")}  # fmt: skip
        assert all(len(p) == 1 for p in pids.values())
        assert pids["tensorflow"] != pids["jax"]
    assert store.run(run_id).env["keras_backends"] == ["jax", "tensorflow"]


def test_cells_of_a_backend_that_is_not_installed_are_skipped_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "installed", lambda backend: backend == "tensorflow")
    store, run_id = _run(tmp_path, RUN + MATRIX)
    by_backend = {s.cell.backend: s.result for s in store.cells(run_id)}
    assert by_backend["tensorflow"].status == "ok"
    assert by_backend["jax"].status == "skipped"
    assert by_backend["jax"].reason == "jax is not installed (pip install -e '.[jax]')"


def _stored(backend: str, xla: bool, rounds: list[list[float]], units: int = 8) -> StoredCell:
    cell = Cell("dense", (("units", units),), (8,), 2, "train", xla=xla, backend=backend)
    timing = timing_result(params=100, params_trainable=100, flops=10, flops_per_step=60,
                           samples_s=sum(rounds, []), rounds=len(rounds))  # fmt: skip
    return StoredCell("r", cell, CellResult("ok", timing=timing), 0.0)


TF_XLA = [[1.00e-3, 1.01e-3], [1.06e-3, 1.07e-3], [0.97e-3, 0.98e-3], [1.02e-3, 1.03e-3]]
TF_GRAPH = [[2.00e-3, 2.01e-3], [2.10e-3, 2.11e-3], [1.95e-3, 1.96e-3], [2.02e-3, 2.03e-3]]


def test_the_backend_table_says_faster_only_when_the_rounds_agree():
    jax_fast = [[0.50e-3, 0.51e-3], [0.52e-3, 0.52e-3], [0.49e-3, 0.50e-3], [0.51e-3, 0.51e-3]]
    text = backend_section([_stored("tensorflow", True, TF_XLA),
                            _stored("tensorflow", False, TF_GRAPH),
                            _stored("jax", True, jax_fast)])  # fmt: skip
    row = next(line for line in text.splitlines() if line.startswith("| units=8"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3].endswith("(jax.jit)")
    assert cells[5].startswith("0.50×") and cells[6] == "faster"  # against TF XLA
    assert cells[8].startswith("0.25×") and cells[9] == "faster"  # against TF graph


def test_the_backend_table_flags_nothing_when_rounds_differ_by_drift_only():
    # the same step time, with each round moved by process-to-process drift (±5%)
    drift = [[1.05e-3, 1.05e-3], [0.95e-3, 0.96e-3], [1.03e-3, 1.04e-3], [0.99e-3, 0.99e-3]]
    text = backend_section([_stored("tensorflow", True, TF_XLA), _stored("jax", True, drift)])
    row = next(line for line in text.splitlines() if line.startswith("| units=8"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[6] == "same" and cells[7:] == ["—", "—", "—"]  # no TF graph cell to pair


def test_one_backend_has_no_backend_table():
    assert backend_section([_stored("tensorflow", True, TF_XLA)]) == ""
