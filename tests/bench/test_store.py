import sqlite3

import pytest

from bench.results.records import CellResult, FitResult, MemoryResult
from bench.results.store import SCHEMA_VERSION, Store, StoreError
from bench.spec.cell import Cell, FitSettings
from tests.records import timing_result


def timing(samples=(0.01, 0.011, 0.012)):
    return timing_result(
        params=100,
        params_trainable=90,
        flops=1000,
        flops_per_step=3000,
        build_s=0.1,
        compile_s=1.5,
        steps_per_sample=20,
        samples_s=samples,
        warmup_s=(0.02,),
        memory=MemoryResult(
            peak_bytes=4096,
            allocator="CPU:0",
            rss_peak_bytes=1 << 20,
            peak_bytes_estimate=2048,
            estimate={"weights": 2048},
        ),
    )


def new_store(tmp_path, run_id="r1"):
    store = Store(tmp_path / "s.sqlite")
    store.create_run(
        run_id, name="t", config_hash="h", config={}, env={"python": "3"}, total_cells=3
    )
    return store


CELL = Cell("dense", (("units", 8),), (4,), 2, "train")


def test_round_trip_of_ok_failed_and_fit_cells(tmp_path):
    store = new_store(tmp_path)
    failed = Cell("dense", (("units", 9),), (4,), 2, "train")
    fit_cell = Cell("dense", (("units", 8),), (64,), 2, "fit", fit=FitSettings("digits", 2))
    fit = FitResult(
        params=10,
        metric="accuracy",
        epochs_run=2,
        curves={
            "train_loss": [1.0, 0.5],
            "val_loss": [1.1, 0.9],
            "train_metric": [0.5, 0.8],
            "val_metric": [0.4, 0.7],
        },
        final_val_metric=0.7,
        best_val_metric=0.7,
        best_epoch=2,
        test_metric=0.69,
        gap_end=0.4,
        gap_best=0.4,
        onset_epoch=None,
        memorisation=None,
        fit_wall_s=1.0,
    )
    store.record("r1", CELL, CellResult("ok", timing=timing(), warnings=("w",), wall_s=2.0))
    store.record("r1", failed, CellResult("failed", reason="boom", traceback="tb"))
    store.record("r1", fit_cell, CellResult("ok", fit=fit))
    cells = {s.cell.cell_id: s for s in store.cells("r1")}
    assert cells[CELL.cell_id].result.timing == timing()
    assert cells[CELL.cell_id].result.warnings == ("w",)
    assert cells[failed.cell_id].result.traceback == "tb"
    assert cells[fit_cell.cell_id].result.fit == fit
    assert store.finished_cell_ids("r1") == set(cells)
    assert store.finished_cell_ids("r1", statuses=("ok",)) == {CELL.cell_id, fit_cell.cell_id}
    # No statistics are stored: they are derived from the raw samples when read.
    columns = [r[1] for r in store._db.execute("PRAGMA table_info(measurements)")]
    assert columns == ["run_id", "cell_id", "result_json"]


def test_rounds_are_kept_until_the_cell_is_recorded_whole(tmp_path):
    store = new_store(tmp_path)
    reply = {"status": "ok", "round": {"round": 2, "pid": 7, "samples_s": [0.1]}}
    store.record_round("r1", CELL, 2, reply)
    store.record_round("r1", CELL, 1, {**reply, "round": {**reply["round"], "round": 1}})
    assert sorted(store.rounds("r1")[CELL.cell_id]) == [1, 2]
    assert store.rounds("r1")[CELL.cell_id][2] == reply
    store.record("r1", CELL, CellResult("ok", timing=timing()))
    assert store.rounds("r1") == {}  # the final record holds the rounds now


def test_canaries_are_stored_in_order(tmp_path):
    store = new_store(tmp_path)
    store.record_canary("r1", 1, {"median_s": 0.002})
    store.record_canary("r1", 0, {"median_s": 0.001, "when": "before round"})
    assert [(c["seq"], c["median_s"]) for c in store.canaries("r1")] == [(0, 0.001), (1, 0.002)]


SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, config_hash TEXT NOT NULL,
    config_json TEXT NOT NULL, env_json TEXT NOT NULL, total_cells INTEGER NOT NULL,
    created_at REAL NOT NULL, finished_at REAL);
CREATE TABLE probes (run_id TEXT NOT NULL, device TEXT NOT NULL, peak_flops REAL,
    detail_json TEXT NOT NULL, PRIMARY KEY (run_id, device));
CREATE TABLE cells (run_id TEXT NOT NULL, cell_id TEXT NOT NULL, group_id TEXT NOT NULL,
    label TEXT NOT NULL, config_json TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
    warnings_json TEXT NOT NULL, wall_s REAL NOT NULL, finished_at REAL NOT NULL,
    PRIMARY KEY (run_id, cell_id));
CREATE TABLE measurements (run_id TEXT NOT NULL, cell_id TEXT NOT NULL, step_s_median REAL,
    step_s_iqr REAL, step_s_min REAL, step_s_mean REAL, step_s_std REAL,
    samples_json TEXT NOT NULL, result_json TEXT NOT NULL, PRIMARY KEY (run_id, cell_id));
CREATE TABLE failures (run_id TEXT NOT NULL, cell_id TEXT NOT NULL, reason TEXT NOT NULL,
    traceback TEXT NOT NULL, PRIMARY KEY (run_id, cell_id));
CREATE TABLE fits (run_id TEXT NOT NULL, cell_id TEXT NOT NULL, result_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cell_id));
CREATE TABLE curves (run_id TEXT NOT NULL, cell_id TEXT NOT NULL, epoch INTEGER NOT NULL,
    train_loss REAL, val_loss REAL, train_metric REAL, val_metric REAL,
    PRIMARY KEY (run_id, cell_id, epoch));
"""

# A timing result as blockbench wrote it before rounds existed: samples flat in the record.
LEGACY_TIMING = (
    '{"params": 100, "params_trainable": 90, "flops": 1000, "flops_per_step": 3000, '
    '"build_s": 0.1, "compile_s": 1.5, "steps_per_sample": 20, "samples_s": [0.01, 0.012, '
    '0.011], "warmup_s": [0.02], "fit_step_s": null, "xla_max_abs_diff": null, '
    '"xla_fallback": "", "tf32": false, "memory": null, "profile": null}'
)


def test_a_schema_1_store_still_reads_and_upgrades(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    db.execute("INSERT INTO runs VALUES ('old', 'quick', 'h', '{}', '{}', 1, 0.0, 1.0)")
    db.execute(
        "INSERT INTO cells VALUES ('old', ?, ?, ?, ?, 'ok', '', '[]', 2.0, 1.0)",
        (CELL.cell_id, CELL.group_id, CELL.label, __import__("json").dumps(CELL.to_dict())),
    )
    db.execute(
        "INSERT INTO measurements VALUES ('old', ?, 0.011, 0.001, 0.01, 0.011, 0.001, '{}', ?)",
        (CELL.cell_id, LEGACY_TIMING),
    )
    db.commit()
    db.close()
    with Store(path, upgrade=False) as reader:  # merging reads a shard without writing it
        (stored,) = reader.cells("old")
        assert reader._db.execute("SELECT value FROM meta").fetchone()[0] == "1"
    timing_read = stored.result.timing
    assert timing_read.samples_s == (0.01, 0.012, 0.011)
    assert [(r.round, r.pid) for r in timing_read.rounds] == [(1, None)]
    assert (timing_read.compile_s, timing_read.steps_per_sample) == (1.5, 20)
    with Store(path) as writer:  # opening to write upgrades it, keeping its rows
        assert writer.cells("old")[0].result == stored.result
        writer.record("old", FAILED, CellResult("failed", reason="x"))
        writer.record("old", OTHER, CellResult("ok", timing=timing()))
        assert len(writer.cells("old")) == 3
        assert writer._db.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)


FAILED = Cell("dense", (("units", 9),), (4,), 2, "train")
OTHER = Cell("dense", (("units", 10),), (4,), 2, "train")


def test_recording_a_cell_again_replaces_it(tmp_path):
    store = new_store(tmp_path)
    store.record("r1", CELL, CellResult("failed", reason="first"))
    store.record("r1", CELL, CellResult("ok", timing=timing()))
    (stored,) = store.cells("r1")
    assert stored.result.status == "ok"
    assert store._db.execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 0


def test_runs_lookup_by_prefix_and_resumable(tmp_path):
    store = new_store(tmp_path, "20260101-smoke")
    assert store.run("2026").run_id == "20260101-smoke"
    assert store.run("latest").run_id == "20260101-smoke"
    assert store.resumable_run("h").run_id == "20260101-smoke"
    store.finish_run("20260101-smoke")
    assert store.resumable_run("h") is None
    with pytest.raises(KeyError, match="no run 'nope'"):
        store.run("nope")


def test_store_is_in_wal_mode_and_versioned(tmp_path):
    store = new_store(tmp_path)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    version = store._db.execute("SELECT value FROM meta").fetchone()[0]
    assert int(version) == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path):
    new_store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("UPDATE meta SET value='99'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99, newer"):
        Store(tmp_path / "s.sqlite")


def test_corrupt_or_foreign_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not a readable blockbench store"):
        Store(garbage)
    foreign = tmp_path / "foreign.sqlite"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE x (a)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a blockbench store"):
        Store(foreign)


def test_merge_adds_without_duplicates(tmp_path):
    a = Store(tmp_path / "a.sqlite")
    b = Store(tmp_path / "b.sqlite")
    for store in (a, b):
        store.create_run("shared", name="t", config_hash="h", config={}, env={}, total_cells=2)
    other = Cell("dense", (("units", 16),), (4,), 2, "train")
    a.record("shared", CELL, CellResult("ok", timing=timing()))
    b.record("shared", other, CellResult("ok", timing=timing()))
    b.record("shared", CELL, CellResult("ok", timing=timing((9.0,))))
    b.close()
    target = Store(tmp_path / "merged.sqlite")
    assert target.merge_from(tmp_path / "a.sqlite") == (1, 1)
    assert target.merge_from(tmp_path / "b.sqlite") == (0, 1)
    assert target.merge_from(tmp_path / "b.sqlite") == (0, 0)
    cells = {s.cell.cell_id: s for s in target.cells("shared")}
    assert set(cells) == {CELL.cell_id, other.cell_id}
    assert cells[CELL.cell_id].result.timing.samples_s == (0.01, 0.011, 0.012)  # first wins


def test_merge_takes_each_cell_whole_from_one_store(tmp_path):
    a = Store(tmp_path / "a.sqlite")
    b = Store(tmp_path / "b.sqlite")
    for store in (a, b):
        store.create_run("r", name="t", config_hash="h", config={}, env={}, total_cells=1)
    a.record("r", CELL, CellResult("failed", reason="crashed"))
    b.record("r", CELL, CellResult("ok", timing=timing()))
    b.close()
    a.merge_from(tmp_path / "b.sqlite")
    (stored,) = a.cells("r")
    assert stored.result.status == "failed" and stored.result.timing is None
    assert a._db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 0
