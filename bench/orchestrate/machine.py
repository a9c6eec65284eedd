"""The machine's state during a run: how much CPU others took, and steal time.

Linux's ``/proc/stat`` counts, per CPU state, the time all cores spent since boot. Two
readings around a phase give the cores that were busy on average; subtracting the CPU
time blockbench's own processes used in between gives what *other* processes took
(``foreign_cores``). On a 2-core machine where a timing worker keeps both cores busy,
any foreign load competes with the measurement. ``steal`` is the time the hypervisor gave
this VM's virtual CPUs to someone else (zero on bare metal).

>>> before = CpuCounters(busy_s=100.0, steal_s=1.0, total_s=400.0, own_cpu_s=10.0, at=0.0,
...                      load_1m=0.5)
>>> after = CpuCounters(busy_s=118.0, steal_s=1.2, total_s=420.0, own_cpu_s=19.0, at=10.0,
...                     load_1m=1.5)
>>> state = machine_state(before, after)
>>> state.busy_cores, state.own_cores, state.foreign_cores, round(state.steal_fraction, 3)
(1.8, 0.9, 0.9, 0.01)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_PROC_STAT = Path("/proc/stat")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuCounters:
    """One reading: CPU seconds busy, stolen and in total (all cores, since boot), our own
    CPU seconds, the wall clock and the 1-minute load average."""

    busy_s: float
    steal_s: float
    total_s: float
    own_cpu_s: float
    at: float
    load_1m: float

    @classmethod
    def read(cls, *, own_cpu_s: float) -> CpuCounters:
        """Read ``/proc/stat`` (zeros where it does not exist) and the load average."""
        busy = steal = total = 0.0
        try:
            fields = _PROC_STAT.read_text().splitlines()[0].split()[1:]
            values = [int(v) / _TICKS for v in fields]
            idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
            steal = values[7] if len(values) > 7 else 0.0
            # guest time is already inside user/nice: count the first 8 fields only
            total = sum(values[:8])
            busy = total - idle - steal
        except (OSError, IndexError, ValueError):
            pass
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        return cls(busy, steal, total, own_cpu_s, time.time(), load)


@dataclass(frozen=True)
class MachineState:
    """The machine between two readings, in cores (CPU seconds per wall second)."""

    wall_s: float
    busy_cores: float
    own_cores: float
    foreign_cores: float
    steal_fraction: float
    load_1m: float
    cores: int


def machine_state(before: CpuCounters, after: CpuCounters) -> MachineState:
    """What happened on the machine between two readings."""
    wall = max(after.at - before.at, 1e-9)
    busy = (after.busy_s - before.busy_s) / wall
    own = (after.own_cpu_s - before.own_cpu_s) / wall
    total = after.total_s - before.total_s
    steal = (after.steal_s - before.steal_s) / total if total > 0 else 0.0
    return MachineState(
        wall_s=round(wall, 6),
        busy_cores=round(busy, 6),
        own_cores=round(own, 6),
        foreign_cores=round(max(0.0, busy - own), 6),
        steal_fraction=steal,
        load_1m=after.load_1m,
        cores=os.cpu_count() or 0,
    )
