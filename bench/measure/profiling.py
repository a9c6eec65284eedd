"""TensorBoard profile of a few steps of a cell, and what we read back from it.

`capture` runs one untraced warm-up step, then ``steps`` steps under a framework's
xplane profiler (TensorFlow's by default; JAX's writes the same format, see
`bench.measure.backends`), each inside a step marker, and files the ``*.xplane.pb``
where TensorBoard's profile plugin lists it under the cell's readable name::

    <logdir>/plugins/profile/<run_name>/<host>.xplane.pb

The plugin names a profile "<tb run>/<profile folder>", and only the folder when the
profile sits in the log directory's own ``plugins/profile``: so this layout lists the cell
as exactly ``<run_name>`` (``tf.profiler`` itself would write
``<logdir>/<run_name>/plugins/profile/<timestamp>/``, listed as ``<run_name>/<timestamp>``;
we profile there and move the timestamp folder). A second capture of the same run name
replaces the first. The worker calls it as ``capture(program.step, logdir=run_dir /
"tensorboard", run_name=cell.slug, steps=settings.profile_steps, step_name="train")``
(the examples here are cheap; a capture needs TensorFlow and a built model).

Step markers and the Overview Page: xprof groups a host-only profile into steps from the
``Trace(step_name, step_num=i, _r=1)`` markers, *unless* the profile holds a TensorFlow
``while`` loop that ran more than one iteration: then its event grouping
(``EventForest::ProcessTensorFlowLoop``/``CreateEventGroups`` in tsl's
``group_events.cc``) makes each loop iteration a group and ignores the markers, so
no marker gets a ``group_id``, no step is found, and the Overview Page says "No step
marker observed". A profiled step must therefore be one call without an in-graph loop
(the timed K-step loop is one). Blocks whose layers loop in the graph (Keras RNNs) hit
the same rule.

>>> profile_folder(Path("tb"), "dense_units=16_b4_train_cpu").as_posix()
'tb/plugins/profile/dense_units=16_b4_train_cpu'
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results.records import ProfileResult
from bench.results.text import first_line

TOP = 5  # ops kept in top_alloc_ops and top_ops
PROFILE_DIR = ("plugins", "profile")


class ProfileWarning(UserWarning):
    """A profile was captured but the converters could not read part of it back."""


@dataclass(frozen=True)
class Profiler:
    """A framework's xplane profiler: ``session(folder)`` records everything run inside
    it into ``folder/plugins/profile/<timestamp>/<host>.xplane.pb``, ``marker(name, i)``
    marks step ``i``, ``reset_peaks()`` resets the allocator peaks it reports."""

    session: Callable[[str], AbstractContextManager[Any]]
    marker: Callable[[str, int], AbstractContextManager[Any]]
    reset_peaks: Callable[[], None]


def tensorflow_profiler() -> Profiler:
    """TensorFlow's profiler (``tf.profiler.experimental``), with ``Trace`` step markers."""
    import tensorflow as tf

    @contextmanager
    def session(folder: str) -> Iterator[None]:
        tf.profiler.experimental.start(folder)
        try:
            yield
        finally:
            tf.profiler.experimental.stop()

    def marker(name: str, index: int) -> AbstractContextManager[Any]:
        return tf.profiler.experimental.Trace(name, step_num=index, _r=1)

    return Profiler(session=session, marker=marker, reset_peaks=_reset_allocator_peaks)


def capture(
    step: Callable[[int], float],
    *,
    logdir: Path,
    run_name: str,
    steps: int,
    step_name: str,
    profiler: Profiler | None = None,
) -> ProfileResult:
    """Profile ``steps`` calls of ``step`` and read back the peak and the top ops.

    Raises when the capture itself fails (e.g. another profiler session is running).
    When reading the profile back fails, the result still carries the path, the failing
    part holds one ``{"error": ...}`` entry, and a `ProfileWarning` is issued.
    The allocator peak statistics are reset before the profiled steps, so
    ``profile_peak_bytes`` is the peak of those steps (the memory profile's lifetime peak
    is the peak since the last reset). ``capture_s`` is the whole cost of profiling the
    cell: warm-up step, profiled steps, writing the xplane and reading it back.
    For example ``capture(program.step, logdir=Path("tb"), run_name="cell", steps=3,
    step_name="train")`` files ``tb/plugins/profile/cell/<host>.xplane.pb``.
    """
    profiler = profiler or tensorflow_profiler()
    started = time.perf_counter()
    logdir = Path(logdir)
    staging = logdir / run_name
    step(0)  # warm-up, untraced: the profile shows steady steps, not a first call
    profiler.reset_peaks()
    with profiler.session(str(staging)):
        for index in range(steps):
            with profiler.marker(step_name, index):
                step(index)
    xplane = _publish(staging, logdir, run_name)
    peak, alloc_ops, top_ops = read_profile(xplane)
    return ProfileResult(
        profile_path=str(xplane),
        profile_peak_bytes=peak,
        top_alloc_ops=alloc_ops,
        top_ops=top_ops,
        capture_s=time.perf_counter() - started,
    )


def read_profile(
    xplane: Path,
) -> tuple[int | None, tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """(peak bytes, top allocating ops at the peak, top ops by self time) of an xplane.

    A part the converters cannot produce becomes ``None`` or ``({"error": why},)``, and a
    `ProfileWarning` says so. ``read_profile(Path(result.profile_path))`` reads back
    what `capture` stored.
    """
    problems: list[str] = []
    peak: int | None = None
    alloc_ops: tuple[dict[str, Any], ...] = ()
    top_ops: tuple[dict[str, Any], ...] = ()
    try:
        peak, alloc_ops = memory_summary(_tool_json(xplane, "memory_profile"))
        if peak is None:
            problems.append("memory_profile: no allocator recorded memory events")
    except Exception as error:  # converter or format problem: keep the rest
        problems.append(f"memory_profile: {first_line(error)}")
        alloc_ops = ({"error": problems[-1]},)
    try:
        top_ops = top_self_time_ops(_tool_json(xplane, "framework_op_stats"))
        if not top_ops:
            problems.append("framework_op_stats: no ops recorded")
    except Exception as error:
        problems.append(f"framework_op_stats: {first_line(error)}")
        top_ops = ({"error": problems[-1]},)
    if problems:
        warnings.warn(
            f"profile {xplane} read back in part: {'; '.join(problems)}",
            ProfileWarning,
            stacklevel=2,
        )
    return peak, alloc_ops, top_ops


def memory_summary(profile: dict[str, Any]) -> tuple[int | None, tuple[dict[str, Any], ...]]:
    """Peak bytes and the ops holding the most memory at the peak, from ``memory_profile``.

    Of several allocators (e.g. GPU and pinned host memory) the one with the largest
    lifetime peak is used. Ops are the allocations live at the peak, summed by op name
    (``basis`` ``"live at peak"``); when the profile attributes none (it happens for large
    steps), the largest single allocation of each op in the sampled timeline
    (``basis`` ``"largest allocation"``).

    >>> memory_summary({"memoryProfilePerAllocator": {}})
    (None, ())
    """
    allocators = profile.get("memoryProfilePerAllocator") or {}
    if not allocators:
        return None, ()
    name = max(
        allocators,
        key=lambda a: int(allocators[a]["profileSummary"].get("peakBytesUsageLifetime", 0)),
    )
    allocator = allocators[name]
    peak = int(allocator["profileSummary"].get("peakBytesUsageLifetime", 0))
    snapshots = allocator.get("memoryProfileSnapshots", [])
    specials = allocator.get("specialAllocations", [])
    by_op: dict[str, int] = defaultdict(int)
    for active in allocator.get("activeAllocations", []):
        snapshot, special = int(active["snapshotIndex"]), int(active["specialIndex"])
        if snapshot >= 0:
            meta = snapshots[snapshot]["activityMetadata"]
        elif special >= 0:
            meta = specials[special]
        else:
            continue
        op = meta.get("tfOpName", "")
        if not op or op.startswith("unused preallocated"):
            continue  # the allocator's reserve, not an op's allocation
        by_op[op] += int(meta.get("allocationBytes", 0)) * int(active.get("numOccurrences", 1))
    basis = "live at peak"
    if not by_op:  # the profile attributed nothing at the peak: use its largest allocations
        basis = "largest allocation"
        for sample in allocator.get("sampledTimelineSnapshots", []):
            meta = sample.get("activityMetadata", {})
            op = meta.get("tfOpName", "")
            if meta.get("memoryActivity") == "ALLOCATION" and op:
                by_op[op] = max(by_op[op], int(meta.get("allocationBytes", 0)))
    ranked = sorted(by_op.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return peak, tuple({"op": op, "bytes": size, "basis": basis} for op, size in ranked)


def top_self_time_ops(tables: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The ops with the most self time, from ``framework_op_stats`` (idle time left out).

    ``pct`` is the op's share of the busy self time of its host or device, in percent.

    >>> cols = [{"id": i} for i in ("host_or_device", "type", "operation", "total_self_time",
    ...         "host_total_self_time_percent", "device_total_self_time_percent")]
    >>> row = {"c": [{"v": "Host"}, {"v": "MatMul"}, {"v": "dense/MatMul"}, {"v": 9.0},
    ...        {"v": 0.75}, {"v": 0.0}]}
    >>> top_self_time_ops([{"cols": cols, "rows": [row]}])
    ({'op': 'dense/MatMul', 'type': 'MatMul', 'self_time_us': 9.0, 'pct': 75.0},)
    """
    if isinstance(tables, dict):
        tables = [tables]
    # the converter sends the table twice: with and without IDLE; prefer the one without
    table = next(
        (t for t in reversed(tables) if not any(_cells(t, r)["type"] == "IDLE" for r in t["rows"])),
        tables[-1] if tables else {"cols": [], "rows": []},
    )
    ops = []
    for row in table["rows"]:
        cells = _cells(table, row)
        if cells["type"] == "IDLE":
            continue
        on_device = str(cells.get("host_or_device", "")).lower() == "device"
        share = cells.get(
            "device_total_self_time_percent" if on_device else "host_total_self_time_percent"
        )
        ops.append(
            {
                "op": cells["operation"],
                "type": cells["type"],
                "self_time_us": float(cells["total_self_time"]),
                "pct": round(100.0 * float(share or 0.0), 2),
            }
        )
    ops.sort(key=lambda op: -op["self_time_us"])
    return tuple(ops[:TOP])


def step_markers(xplane: Path, step_name: str) -> list[int]:
    """The ``step_num`` of every step marker named ``step_name`` in an xplane.

    A capture of three steps gives ``[0, 1, 2]``. The markers being in the file does not
    mean the Overview Page finds them: see `overview_step_times`.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(xplane).read_bytes())
    found = []
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        stat_names = {key: meta.name for key, meta in plane.stat_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                if names.get(event.metadata_id) != step_name:
                    continue
                for stat in event.stats:
                    if stat_names.get(stat.metadata_id) == "step_num":
                        found.append(_stat_value(stat))
    return sorted(found)


def overview_step_times(xplane: Path) -> dict[str, float]:
    """Step name -> step time in ms, as the Overview Page's step-time graph shows them.

    Empty when the viewer found no steps (it then says "No step marker observed").
    """
    tables = _tool_json(xplane, "overview_page")
    analysis = tables[1]  # the input-pipeline table: one row per step
    return {row["c"][0]["v"]: float(row["c"][-1]["v"]) for row in analysis.get("rows", [])}


def profile_folder(logdir: Path, run_name: str) -> Path:
    """Where the profile of ``run_name`` lives: TensorBoard lists it as ``run_name``.

    >>> profile_folder(Path("tb"), "dense_b8").as_posix()
    'tb/plugins/profile/dense_b8'
    """
    return Path(logdir).joinpath(*PROFILE_DIR, run_name)


# -- helpers -------------------------------------------------------------------------
def _publish(staging: Path, logdir: Path, run_name: str) -> Path:
    """Move the profile the profiler wrote under ``staging`` to `profile_folder`."""
    written = sorted(staging.joinpath(*PROFILE_DIR).glob("*/*.xplane.pb"))
    if not written:
        raise RuntimeError(f"the profiler wrote no *.xplane.pb under {staging}")
    source = written[-1].parent  # newest timestamp folder
    target = profile_folder(logdir, run_name)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    source.rename(target)
    for folder in (staging / "plugins" / "profile", staging / "plugins", staging):
        try:
            folder.rmdir()  # only when empty: never remove anything else kept there
        except OSError:
            break
    return target / written[-1].name


def _reset_allocator_peaks() -> None:
    import tensorflow as tf

    for device in ["CPU:0"] + [
        f"GPU:{i}" for i in range(len(tf.config.list_logical_devices("GPU")))
    ]:
        try:
            tf.config.experimental.reset_memory_stats(device)
        except (ValueError, tf.errors.OpError):
            pass  # no stats on this device: its profile has no memory events either


def _tool_json(xplane: Path, tool: str) -> Any:
    from xprof.convert import raw_to_tool_data

    data, _content_type = raw_to_tool_data.xspace_to_tool_data([str(xplane)], tool, {})
    if data is None:
        raise RuntimeError(f"the {tool} converter returned no data")
    return json.loads(data)


def _cells(table: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    return {
        col["id"]: cell.get("v") if isinstance(cell, dict) else cell
        for col, cell in zip(table["cols"], row["c"], strict=False)
    }


def _stat_value(stat: Any) -> int:
    kind = stat.WhichOneof("value")
    return int(getattr(stat, kind)) if kind else 0
