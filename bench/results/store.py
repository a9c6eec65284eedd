"""The results store: one embedded SQLite file, WAL mode, one transaction per cell.

Pure Python (no TensorFlow), so reports and exports read it without the ML stack.

>>> import tempfile, os
>>> store = Store(os.path.join(tempfile.mkdtemp(), "results.sqlite"))
>>> store.runs()
[]
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results.records import CellResult
from bench.spec.cell import Cell

SCHEMA_VERSION = 3  # 2: rounds and canaries tables; measurements keep only the result
# 3: shards table
STORE_FILENAME = "blockbench.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    config_json TEXT NOT NULL,
    env_json TEXT NOT NULL,
    total_cells INTEGER NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS probes (
    run_id TEXT NOT NULL,
    device TEXT NOT NULL,
    peak_flops REAL,
    detail_json TEXT NOT NULL,
    PRIMARY KEY (run_id, device)
);
CREATE TABLE IF NOT EXISTS cells (
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    label TEXT NOT NULL,
    config_json TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    warnings_json TEXT NOT NULL,
    wall_s REAL NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (run_id, cell_id)
);
CREATE TABLE IF NOT EXISTS measurements (
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    result_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cell_id)
);
CREATE TABLE IF NOT EXISTS failures (
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    traceback TEXT NOT NULL,
    PRIMARY KEY (run_id, cell_id)
);
CREATE TABLE IF NOT EXISTS fits (
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    result_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cell_id)
);
CREATE TABLE IF NOT EXISTS curves (  -- schema 1 only: curves are read from fits.result_json
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    train_loss REAL,
    val_loss REAL,
    train_metric REAL,
    val_metric REAL,
    PRIMARY KEY (run_id, cell_id, epoch)
);
"""

# Added in schema 2; created in older stores when they are opened.
_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS rounds (
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    reply_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cell_id, round)
);
CREATE TABLE IF NOT EXISTS canaries (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    detail_json TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""

# Added in schema 3: which shards of a run this store holds (one row per shard that ran).
_SCHEMA_3 = """
CREATE TABLE IF NOT EXISTS shards (
    run_id TEXT NOT NULL,
    shard INTEGER NOT NULL,
    shard_count INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    cell_ids_json TEXT NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (run_id, shard)
);
"""
_ADDED = _SCHEMA_2 + _SCHEMA_3

_CELL_TABLES = ("cells", "measurements", "failures", "fits", "curves", "rounds")


class StoreError(RuntimeError):
    """The store file cannot be used (newer schema, not a blockbench store, corrupt)."""


@dataclass(frozen=True)
class RunInfo:
    """One stored run: its name, config hash, environment and progress."""

    run_id: str
    name: str
    config_hash: str
    config: dict[str, Any]
    env: dict[str, Any]
    total_cells: int
    created_at: float
    finished_at: float | None
    done_cells: int


@dataclass(frozen=True)
class ShardInfo:
    """One shard of a sharded run: which of how many, where it ran, its cells."""

    run_id: str
    index: int
    count: int
    host: str
    source: str  # "slurm", "kubernetes" or "--shard"
    started_at: float
    cells: int  # cells the shard owns
    stored: int  # of those, cells in this store


@dataclass(frozen=True)
class StoredCell:
    """A finished cell as stored: its configuration and result."""

    run_id: str
    cell: Cell
    result: CellResult
    finished_at: float


def store_path(out_dir: str | Path) -> Path:
    """The store file inside an output folder.

    >>> store_path("results").name
    'blockbench.sqlite'
    """
    return Path(out_dir) / STORE_FILENAME


def shard_store_path(out_dir: str | Path, run_id: str, index: int, count: int) -> Path:
    """The store file of one shard: shards never share an SQLite file (its WAL mode does
    not work over a network filesystem), and ``blockbench merge`` takes the folder.

    >>> shard_store_path("results", "nightly", 2, 12).as_posix()
    'results/nightly/shards/shard-02-of-12.sqlite'
    """
    width = len(str(count))
    name = f"shard-{index:0{width}d}-of-{count}.sqlite"
    return Path(out_dir) / run_id / "shards" / name


def merge_problems(target: Store, sources: Iterable[str | Path]) -> list[str]:
    """Why these stores cannot be merged into ``target`` (empty when they can): a run id
    made from different configs, or shards of one run that disagree on their count.
    Checked for all sources before anything is copied."""
    configs = {r.run_id: (r.config_hash, str(target.path)) for r in target.runs()}
    counts = {r.run_id: {s.count for s in target.shards(r.run_id)} for r in target.runs()}
    where = {run_id: str(target.path) for run_id in counts}
    problems = []
    for source in sources:
        with Store(source, create=False, upgrade=False) as other:
            for run in other.runs():
                known = configs.setdefault(run.run_id, (run.config_hash, str(source)))
                if known[0] != run.config_hash:
                    problems.append(
                        f"{source}: run {run.run_id} was made from a different config than in "
                        f"{known[1]} (config hash {run.config_hash} vs {known[0]}): shards of "
                        "one run must come from the same config"
                    )
                seen = counts.setdefault(run.run_id, set())
                where.setdefault(run.run_id, str(source))
                mine = {s.count for s in other.shards(run.run_id)}
                if seen and mine and seen != mine:
                    problems.append(
                        f"{source}: run {run.run_id} is split into {sorted(mine)} shards here "
                        f"but {sorted(seen)} in {where[run.run_id]}"
                    )
                seen |= mine
    return problems


class Store:
    """An open results store (a SQLite file). Opening checks the schema version."""

    def __init__(self, path: str | Path, *, create: bool = True, upgrade: bool = True) -> None:
        self.path = Path(path)
        self._writable = upgrade
        if not create and not self.path.exists():
            raise StoreError(f"no results store at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._check_schema()
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{self.path} is not a readable blockbench store ({error}); "
                "move it aside or pass another --out"
            ) from error

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------
    def _check_schema(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            raise StoreError(f"{self.path} is an SQLite file but not a blockbench store")
        if not tables:
            self._db.executescript(_SCHEMA + _ADDED)  # idempotent CREATE IF NOT EXISTS
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            with self._transaction():
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            return
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this blockbench "
                f"understands ({SCHEMA_VERSION}); upgrade blockbench or use another --out"
            )
        if version < SCHEMA_VERSION and self._writable:
            self._upgrade()

    def _upgrade(self) -> None:
        """Schema 1 -> 2: add the rounds and canaries tables (old measurement rows keep
        their unused statistics columns; their raw samples read as one round); 2 -> 3:
        add the shards table."""
        with self._transaction():
            for statement in _ADDED.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # -- runs ---------------------------------------------------------------------
    def create_run(
        self,
        run_id: str,
        *,
        name: str,
        config_hash: str,
        config: dict[str, Any],
        env: dict[str, Any],
        total_cells: int,
    ) -> None:
        """Record a new run (its settings and environment fingerprint)."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,NULL)",
                (
                    run_id,
                    name,
                    config_hash,
                    json.dumps(config, sort_keys=True),
                    json.dumps(env, sort_keys=True),
                    total_cells,
                    time.time(),
                ),
            )

    def finish_run(self, run_id: str) -> None:
        with self._transaction():
            self._db.execute("UPDATE runs SET finished_at=? WHERE run_id=?", (time.time(), run_id))

    def runs(self) -> list[RunInfo]:
        """All runs, oldest first."""
        rows = self._db.execute(
            "SELECT r.*, (SELECT COUNT(*) FROM cells c WHERE c.run_id=r.run_id) AS done "
            "FROM runs r ORDER BY created_at, run_id"
        ).fetchall()
        return [_run_info(row) for row in rows]

    def run(self, run_id: str) -> RunInfo:
        """One run by id; a unique prefix of the id, or ``latest``, is accepted."""
        if run_id == "latest":
            return self.latest_run()
        matches = [r for r in self.runs() if r.run_id.startswith(run_id)]
        exact = [r for r in matches if r.run_id == run_id]
        if exact:
            return exact[0]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(r.run_id for r in self.runs()[-5:]) or "none"
        if not matches:
            raise KeyError(f"no run {run_id!r} in {self.path} (latest: {known})")
        raise KeyError(f"run id {run_id!r} is ambiguous: {', '.join(r.run_id for r in matches)}")

    def latest_run(self) -> RunInfo:
        runs = self.runs()
        if not runs:
            raise KeyError(f"no runs in {self.path}")
        return runs[-1]

    def resumable_run(self, config_hash: str) -> RunInfo | None:
        """The newest unfinished run with this config hash, if any."""
        for run in reversed(self.runs()):
            if run.config_hash == config_hash and run.finished_at is None:
                return run
        return None

    def set_probe(
        self, run_id: str, device: str, peak_flops: float | None, detail: dict[str, Any]
    ) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO probes VALUES (?,?,?,?)",
                (run_id, device, peak_flops, json.dumps(detail, sort_keys=True)),
            )

    def probes(self, run_id: str) -> dict[str, dict[str, Any]]:
        rows = self._db.execute(
            "SELECT device, peak_flops, detail_json FROM probes WHERE run_id=?", (run_id,)
        ).fetchall()
        return {
            r["device"]: {"peak_flops": r["peak_flops"], **json.loads(r["detail_json"])}
            for r in rows
        }

    # -- cells --------------------------------------------------------------------
    def record(self, run_id: str, cell: Cell, result: CellResult) -> None:
        """Store one finished cell in a single transaction (replacing an earlier try)."""
        key = (run_id, cell.cell_id)
        with self._transaction():
            for table in _CELL_TABLES:
                self._db.execute(f"DELETE FROM {table} WHERE run_id=? AND cell_id=?", key)
            self._db.execute(
                "INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    *key,
                    cell.group_id,
                    cell.label,
                    json.dumps(cell.to_dict(), sort_keys=True),
                    result.status,
                    result.reason,
                    json.dumps(list(result.warnings)),
                    result.wall_s,
                    time.time(),
                ),
            )
            if result.status == "failed":
                self._db.execute(
                    "INSERT INTO failures VALUES (?,?,?,?)", (*key, result.reason, result.traceback)
                )
            if result.timing is not None:
                # The raw samples, with their rounds and processes, live in the result.
                self._insert_measurement(key, json.dumps(result.to_dict()["timing"]))
            if result.fit is not None:
                self._db.execute(
                    "INSERT INTO fits VALUES (?,?,?)",
                    (*key, json.dumps(result.to_dict()["fit"])),
                )
                # Curves live in the fit's JSON; the schema-1 curves table stays unused.

    def _insert_measurement(self, key: tuple[str, str], result_json: str) -> None:
        columns = [r[1] for r in self._db.execute("PRAGMA table_info(measurements)")]
        if "samples_json" in columns:  # a schema-1 table: its legacy columns stay empty
            self._db.execute(
                "INSERT INTO measurements (run_id, cell_id, samples_json, result_json) "
                "VALUES (?,?,'{}',?)",
                (*key, result_json),
            )
        else:
            self._db.execute("INSERT INTO measurements VALUES (?,?,?)", (*key, result_json))

    # -- rounds and canaries ------------------------------------------------------
    def record_round(self, run_id: str, cell: Cell, round_: int, reply: dict[str, Any]) -> None:
        """Store one finished round of a timing cell (a worker's reply) at once, so an
        interrupted run keeps it; the cell's final record replaces its rounds."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO rounds VALUES (?,?,?,?)",
                (run_id, cell.cell_id, round_, json.dumps(reply, sort_keys=True)),
            )

    def rounds(self, run_id: str) -> dict[str, dict[int, dict[str, Any]]]:
        """Stored rounds of unfinished timing cells: cell id -> round -> reply."""
        found: dict[str, dict[int, dict[str, Any]]] = {}
        for row in self._db.execute(
            "SELECT cell_id, round, reply_json FROM rounds WHERE run_id=?", (run_id,)
        ):
            found.setdefault(row[0], {})[row[1]] = json.loads(row[2])
        return found

    def record_canary(self, run_id: str, seq: int, detail: dict[str, Any]) -> None:
        """Store one canary measurement (and the machine state beside it)."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO canaries VALUES (?,?,?,?)",
                (run_id, seq, time.time(), json.dumps(detail, sort_keys=True)),
            )

    def canaries(self, run_id: str) -> list[dict[str, Any]]:
        """The run's canary measurements in order (empty for stores without them)."""
        if not self._has_table("canaries"):
            return []
        rows = self._db.execute(
            "SELECT seq, at, detail_json FROM canaries WHERE run_id=? ORDER BY seq", (run_id,)
        ).fetchall()
        return [{"seq": r[0], "at": r[1], **json.loads(r[2])} for r in rows]

    def _copy(self, table: str, join: str) -> None:
        """Copy rows of ``table`` from the attached store, by the columns both share (a
        schema-1 shard has extra measurement columns)."""
        columns = _shared_columns(self._db, table)
        names = ", ".join(columns)
        picked = ", ".join(f"t.{c}" for c in columns)
        self._db.execute(
            f"INSERT OR IGNORE INTO main.{table} ({names}) SELECT {picked} FROM other.{table} t "
            + join
        )

    def _has_table(self, name: str, schema: str = "main") -> bool:
        query = f"SELECT 1 FROM {schema}.sqlite_master WHERE type='table' AND name=?"
        return self._db.execute(query, (name,)).fetchone() is not None

    def finished_cell_ids(
        self, run_id: str, *, statuses: Iterable[str] = ("ok", "failed", "skipped")
    ) -> set[str]:
        wanted = tuple(statuses)
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT cell_id FROM cells WHERE run_id=? AND status IN ({marks})", (run_id, *wanted)
        ).fetchall()
        return {r[0] for r in rows}

    def cells(self, run_id: str) -> list[StoredCell]:
        """Every finished cell of a run with its full result, in finishing order."""
        rows = self._db.execute(
            "SELECT c.*, f.traceback AS traceback, m.result_json AS timing_json, "
            "fi.result_json AS fit_json FROM cells c "
            "LEFT JOIN failures f USING (run_id, cell_id) "
            "LEFT JOIN measurements m USING (run_id, cell_id) "
            "LEFT JOIN fits fi USING (run_id, cell_id) "
            "WHERE c.run_id=? ORDER BY c.finished_at, c.cell_id",
            (run_id,),
        ).fetchall()
        stored = []
        for row in rows:
            result = CellResult.from_dict(
                {
                    "status": row["status"],
                    "reason": row["reason"],
                    "traceback": row["traceback"] or "",
                    "timing": json.loads(row["timing_json"]) if row["timing_json"] else None,
                    "fit": json.loads(row["fit_json"]) if row["fit_json"] else None,
                    "warnings": json.loads(row["warnings_json"]),
                    "wall_s": row["wall_s"],
                }
            )
            cell = Cell.from_dict(json.loads(row["config_json"]))
            stored.append(StoredCell(run_id, cell, result, row["finished_at"]))
        return stored

    # -- merge --------------------------------------------------------------------
    def merge_from(self, other: str | Path) -> tuple[int, int]:
        """Copy runs and cells from another store; existing rows win (no duplicates).

        Returns ``(runs_added, cells_added)``. Shards of one run share a run id (pass
        ``--run-id`` to each shard), so their cells merge into one run.
        """
        source = Store(other, create=False, upgrade=False)  # never write to a shard's file
        source.close()
        before_runs = len(self.runs())
        before_cells = self._db.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        self._db.execute("ATTACH DATABASE ? AS other", (str(Path(other)),))
        try:
            with self._transaction():
                for table in ("runs", "probes", "shards"):
                    if self._has_table(table, "other"):
                        self._copy(table, "")
                if self._has_table("canaries", "other"):
                    # every shard numbers its canaries from 0: append the readings this store
                    # lacks after its own, so each machine's readings are kept
                    self._db.execute(
                        "INSERT INTO main.canaries (run_id, seq, at, detail_json) "
                        "SELECT t.run_id, (SELECT COALESCE(MAX(m.seq) + 1, 0) FROM "
                        "main.canaries m WHERE m.run_id = t.run_id) + t.seq, t.at, "
                        "t.detail_json FROM other.canaries t WHERE NOT EXISTS (SELECT 1 FROM "
                        "main.canaries m WHERE m.run_id = t.run_id AND m.at = t.at AND "
                        "m.detail_json = t.detail_json) ORDER BY t.seq"
                    )
                # A cell comes whole from one store: pick the cells the target lacks, then
                # copy every table's rows for exactly those cells.
                self._db.execute("CREATE TEMP TABLE IF NOT EXISTS merge_keys (run_id, cell_id)")
                self._db.execute("DELETE FROM merge_keys")
                self._db.execute(
                    "INSERT INTO merge_keys SELECT run_id, cell_id FROM other.cells o "
                    "WHERE NOT EXISTS (SELECT 1 FROM main.cells m "
                    "WHERE m.run_id = o.run_id AND m.cell_id = o.cell_id)"
                )
                for table in _CELL_TABLES:
                    if self._has_table(table, "other"):
                        self._copy(table, "JOIN merge_keys k USING (run_id, cell_id)")
        finally:
            self._db.execute("DETACH DATABASE other")
        after_cells = self._db.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        self._finish_complete_runs()
        return len(self.runs()) - before_runs, after_cells - before_cells

    def _finish_complete_runs(self) -> None:
        """Mark runs finished whose every cell is now stored (shards merged together)."""
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET finished_at=(SELECT MAX(finished_at) FROM cells c "
                "WHERE c.run_id=runs.run_id) WHERE finished_at IS NULL AND total_cells > 0 "
                "AND total_cells <= (SELECT COUNT(*) FROM cells c WHERE c.run_id=runs.run_id)"
            )

    # -- shards -------------------------------------------------------------------
    def record_shard(
        self, run_id: str, *, index: int, count: int, config_hash: str,
        cell_ids: Iterable[str], host: str, source: str,
    ) -> None:  # fmt: skip
        """Record that shard ``index`` of ``count`` of the run ran into this store."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO shards VALUES (?,?,?,?,?,?,?,?)",
                (run_id, index, count, config_hash, json.dumps(sorted(cell_ids)), host,
                 source, time.time()),
            )  # fmt: skip

    def shards(self, run_id: str) -> list[ShardInfo]:
        """The shards of a run held here, by index (empty for an unsharded run)."""
        stored = {r[0] for r in self._db.execute(
            "SELECT cell_id FROM cells WHERE run_id=?", (run_id,))}  # fmt: skip
        rows = self._db.execute(
            "SELECT * FROM shards WHERE run_id=? ORDER BY shard", (run_id,)
        ).fetchall()
        return [
            ShardInfo(
                run_id,
                row["shard"],
                row["shard_count"],
                row["host"],
                row["source"],
                row["started_at"],
                len(ids := json.loads(row["cell_ids_json"])),
                len(stored.intersection(ids)),
            )  # fmt: skip
            for row in rows
        ]


def _shared_columns(db: sqlite3.Connection, table: str) -> list[str]:
    main = [r[1] for r in db.execute(f"PRAGMA main.table_info({table})")]
    other = {r[1] for r in db.execute(f"PRAGMA other.table_info({table})")}
    return [c for c in main if c in other]


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _run_info(row: sqlite3.Row) -> RunInfo:
    return RunInfo(
        run_id=row["run_id"],
        name=row["name"],
        config_hash=row["config_hash"],
        config=json.loads(row["config_json"]),
        env=json.loads(row["env_json"]),
        total_cells=row["total_cells"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        done_cells=row["done"],
    )
