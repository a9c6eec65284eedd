"""The report's profile section: for each profiled cell, where its time and memory went.

Blockbench reads each TensorBoard profile back when it captures it (``ProfileResult`` in
:mod:`bench.results.records`): the ops with the most self time and the allocations live
at the memory peak. This section prints them, the profile's peak beside the allocator
peak of the timed steps, and the command that opens the profiles in TensorBoard.

>>> from bench.results.records import ProfileResult
>>> print(top_ops_table(ProfileResult("p", top_ops=({"op": "d/MatMul", "type": "MatMul",
...       "self_time_us": 120.0, "pct": 61.5},))))
| op       | type   |   self time |   share |
|----------|--------|-------------|---------|
| d/MatMul | MatMul |      120 µs |   61.5% |
"""

from __future__ import annotations

from bench.results.records import ProfileResult
from bench.results.store import StoredCell
from reports.frames import RunData
from reports.markdown import table
from reports.units import MISSING, format_bytes, format_percent, format_ratio, format_seconds


def profiles_section(data: RunData, *, out_dir: str | None = None) -> str:
    """Markdown for every profiled cell of a run; empty when no cell was profiled.

    ``out_dir`` (the ``--out`` folder, when not the default) goes into the command.
    """
    profiled = [item for item in data.stored if _profile(item) is not None]
    if not profiled:
        return ""
    out = f" --out {out_dir}" if out_dir else ""
    parts = [
        "## Profiles",
        "",
        f"Open them with `blockbench{out} tensorboard {data.run.run_id}` (the Profile tab; "
        "each cell is a run named by its slug). The profile's memory peak is the peak of its "
        "profiled steps; the allocator peak is that of the timed steps, measured apart.",
        "",
    ]
    for item in profiled:
        parts += [*_cell_section(item), ""]
    return "\n".join(parts).rstrip() + "\n"


def top_ops_table(profile: ProfileResult) -> str:
    """The ops with the most self time in the profiled steps, as a markdown table."""
    if _failed(profile.top_ops):
        return f"Ops could not be read from the profile: {profile.top_ops[0]['error']}"
    rows = [
        [
            op["op"],
            op.get("type", ""),
            format_seconds(op["self_time_us"] * 1e-6),
            format_percent(op["pct"] / 100),
        ]
        for op in profile.top_ops
    ]
    return table(["op", "type", "self time", "share"], rows, left=2) if rows else "No ops."


def top_allocations_table(profile: ProfileResult) -> str:
    """The ops holding the most memory at the profile's peak, as a markdown table."""
    if _failed(profile.top_alloc_ops):
        error = profile.top_alloc_ops[0]["error"]
        return f"Allocations could not be read from the profile: {error}"
    rows = [
        [op["op"], format_bytes(op["bytes"]), op.get("basis", "")] for op in profile.top_alloc_ops
    ]
    return table(["op", "bytes", "basis"], rows, left=1) if rows else "No allocations."


def _cell_section(item: StoredCell) -> list[str]:
    timing = item.result.timing
    profile = _profile(item)
    assert timing is not None and profile is not None
    allocator = timing.memory.peak_bytes if timing.memory is not None else None
    ratio = (
        profile.profile_peak_bytes / allocator
        if profile.profile_peak_bytes is not None and allocator
        else None
    )
    peaks = (
        f"Memory peak: profile {format_bytes(profile.profile_peak_bytes)}, allocator "
        f"{format_bytes(allocator)} (profile / allocator "
        f"{format_ratio(ratio) if ratio is not None else MISSING})."
    )
    return [
        f"### {item.cell.label}",
        "",
        f"TensorBoard run `{item.cell.slug}`. {peaks}",
        "",
        "Top ops by self time:",
        "",
        top_ops_table(profile),
        "",
        "Top allocations at the peak:",
        "",
        top_allocations_table(profile),
    ]


def _profile(item: StoredCell) -> ProfileResult | None:
    timing = item.result.timing
    return timing.profile if timing is not None else None


def _failed(ops: tuple[dict, ...]) -> bool:
    return len(ops) == 1 and "error" in ops[0]
