"""Was the machine quiet while a run measured? The canary and the CPU counters say.

The runner times a fixed matmul chain (the canary) before every round and at the
end, and reads the machine's CPU counters beside it (`bench.orchestrate.machine`). A run
is **busy** when other processes took more than :data:`BUSY_FOREIGN_CORES` cores on
average while blockbench measured (its worker uses every core, so any foreign load
competes with it), or when the canary's speed changed for good during the run: the
median of its later half of readings differs from that of its earlier half by more than
:data:`CANARY_DRIFT`. Single readings are no evidence here: on a quiet 2-vCPU VM the
machine's own speed wanders by about 10% (sd) from one 10-second window to the next,
every workload alike (`benchmarks/machine_drift.py`), so the fastest and slowest
readings of quiet runs spanned 19-107% (13 runs). The range is shown, not judged. A busy run's
numbers are suspect; the report says so at the top and ``compare`` warns.

>>> quiet = [{"median_s": 1.00e-3}, {"median_s": 1.02e-3, "machine": {"wall_s": 60,
...          "foreign_cores": 0.05, "steal_fraction": 0.0, "busy_cores": 1.9}}]
>>> state = MachineVerdict.from_canaries(quiet)
>>> state.busy, round(state.canary_drift, 3), state.foreign_cores
(False, 0.02, 0.05)
>>> MachineVerdict.from_canaries([{"median_s": 1e-3}, {"median_s": 1.6e-3}]).reasons
('the canary slowed by 60.0% from the first half of its readings to the second (more than 50.0%)',)
>>> wander = [1.26, 1.22, 1.28, 1.41, 1.2, 0.92]  # a quiet run: one slow, one fast reading
>>> state = MachineVerdict.from_canaries([{"median_s": m} for m in wander])
>>> state.busy, round(state.canary_range, 3), round(state.canary_drift, 3)
(False, 0.533, -0.048)
>>> loaded = [quiet[0], {**quiet[1], "machine": {**quiet[1]["machine"], "foreign_cores": 1.0}}]
>>> MachineVerdict.from_canaries(loaded).reasons
('other processes used 1.00 cores on average (more than 0.5)',)
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.results.moments import NEIGHBOURS, NONE, MomentModel
from bench.results.store import StoredCell
from reports.markdown import table
from reports.units import format_percent, format_seconds

# A sustained change of the machine's speed (later half of the readings against the
# earlier half) that marks a run busy. The issue asked for 10% between any two readings;
# on this VM quiet runs' readings spanned 19-107% (see the module doc), while their
# halves agreed within 31% (13 quiet runs: smoke, quick and the power check). The foreign
# load is the direct measure of other processes (a spinning process read 1.00 cores).
CANARY_DRIFT = 0.50
BUSY_FOREIGN_CORES = 0.5


@dataclass(frozen=True)
class MachineVerdict:
    """The machine's state over one run: canary medians, drift, foreign load, verdict."""

    canary_medians: tuple[float, ...]
    canary_drift: float | None  # later half's median / earlier half's - 1 (signed)
    canary_range: float | None  # slowest / fastest reading - 1
    foreign_cores: float | None
    foreign_cores_max: float | None
    steal_fraction: float | None
    reasons: tuple[str, ...]

    @property
    def busy(self) -> bool:
        return bool(self.reasons)

    @property
    def measured(self) -> bool:
        """Whether the run recorded any canary (older runs did not)."""
        return bool(self.canary_medians)

    @classmethod
    def from_canaries(cls, canaries: Sequence[dict[str, Any]]) -> MachineVerdict:
        medians = tuple(c["median_s"] for c in canaries if c.get("median_s"))
        spread = max(medians) / min(medians) - 1 if len(medians) >= 2 else None
        drift = None
        if len(medians) >= 2:
            half = len(medians) // 2
            earlier, later = medians[:half], medians[len(medians) - half :]
            drift = statistics.median(later) / statistics.median(earlier) - 1
        states = [c["machine"] for c in canaries if c.get("machine")]
        wall = sum(s["wall_s"] for s in states)
        foreign = sum(s["foreign_cores"] * s["wall_s"] for s in states) / wall if wall else None
        steal = sum(s["steal_fraction"] * s["wall_s"] for s in states) / wall if wall else None
        reasons = []
        if drift is not None and abs(drift) > CANARY_DRIFT:
            reasons.append(
                f"the canary {'slowed' if drift > 0 else 'sped up'} by "
                f"{format_percent(abs(drift))} from the first half of its readings to the "
                f"second (more than {format_percent(CANARY_DRIFT)})"
            )
        if foreign is not None and foreign > BUSY_FOREIGN_CORES:
            reasons.append(
                f"other processes used {foreign:.2f} cores on average "
                f"(more than {BUSY_FOREIGN_CORES:g})"
            )
        return cls(
            canary_medians=medians,
            canary_drift=drift,
            canary_range=spread,
            foreign_cores=None if foreign is None else round(foreign, 6),
            foreign_cores_max=max((s["foreign_cores"] for s in states), default=None),
            steal_fraction=steal,
            reasons=tuple(reasons),
        )

    def sentence(self) -> str:
        """One line for the top of a report.

        >>> MachineVerdict((1e-3,), None, None, None, None, None, ()).sentence()
        'The canary ran once only, so the drift of the machine is unknown.'
        """
        if not self.measured:
            return "This run recorded no canary, so whether the machine was quiet is unknown."
        if self.busy:
            return (
                "**The machine was busy while this run measured: "
                + "; ".join(self.reasons)
                + ". Its numbers are suspect.**"
            )
        if self.canary_drift is None:
            return "The canary ran once only, so the drift of the machine is unknown."
        load = (
            f" and other processes used {self.foreign_cores:.2f} cores on average"
            if self.foreign_cores is not None
            else ""
        )
        return (
            f"The machine was quiet: the canary's later readings were within "
            f"{format_percent(abs(self.canary_drift))} of its earlier ones (all readings "
            f"spanned {format_percent(self.canary_range)}: this VM's speed wanders from "
            f"moment to moment){load}."
        )


def moments_sentence(moments: MomentModel) -> str:
    """What the moment model took out of the run's samples, in a sentence.

    >>> moments_sentence(NONE).startswith("No sample has its start time")
    True
    """
    if not moments.adjusts:
        return (
            "No sample has its start time (a store from before it), so the machine's speed "
            "at each moment was not estimated: intervals include its wander."
        )
    effects = np.concatenate([np.asarray(g) for groups in moments.effects.values()
                              for g in groups])  # fmt: skip
    low, high = np.exp(np.percentile(effects, [5, 95]))
    return (
        f"**The machine's speed at each moment**, estimated for every sample from the "
        f"{NEIGHBOURS} samples of other cells taken nearest to it in time "
        f"(`bench.results.moments`), wandered by sd {moments.spread:.3f} of log step time "
        f"(the middle 90% of samples ran {low:.2f}× to {high:.2f}× the run's typical "
        "speed). Each cell's median, its 95% interval and its spreads are taken at the "
        "run's typical speed with that wander removed, so cells of this run compare at "
        "the precision of their own noise. The run's mean speed is not removed: another "
        "run can differ by it in every cell, which `blockbench compare` takes out by "
        "measuring each cell against the reference workload (below). The raw samples are "
        "kept; the export has both medians (`step_s_median`, `step_s_median_raw`)."
    )


def reference_sentence(references: Sequence[StoredCell]) -> str:
    """What the reference workload measured in the run, in a sentence ('' without one).

    >>> reference_sentence(())
    ''
    """
    measured = [r for r in references if r.result.status == "ok" and r.result.timing]
    if not references:
        return ""
    if not measured:
        reasons = "; ".join(f"{r.cell.pass_}: {r.result.reason}" for r in references)
        return f"**The reference workload** was not measured ({reasons})."
    parts = []
    for item in measured:
        timing = item.result.timing
        rounds = [float(np.median(r)) for r in timing.round_samples]
        spread = (max(rounds) / min(rounds) - 1) if len(rounds) > 1 else 0.0
        pooled = np.concatenate([np.asarray(r) for r in timing.stat_samples])
        parts.append(
            f"{item.cell.pass_} {format_seconds(float(np.median(pooled)))} per step "
            f"({len(timing.samples_s)} samples in {len(rounds)} rounds; raw round "
            f"medians {format_percent(spread)} apart)"
        )
    return (
        "**The reference workload** (fixed plain-Keras cells, `bench.spec.reference`, "
        "sampled in every sweep beside the cells): " + "; ".join(parts) + ". It is what "
        "`blockbench compare` measures each cell against, round by round, so that a "
        "change of the machine's speed between two runs cancels and a change of the code "
        "does not. It is left out of the block tables."
    )


def machine_section(
    canaries: Sequence[dict[str, Any]],
    moments: MomentModel = NONE,
    references: Sequence[StoredCell] = (),
) -> str:
    """The verdict, the moment model, the reference workload, and the canary's readings
    as a table (one row per reading)."""
    verdict = MachineVerdict.from_canaries(canaries)
    parts = [verdict.sentence(), moments_sentence(moments)]
    if references:
        parts.append(reference_sentence(references))
    if canaries:
        headers = ["#", "when", "round", "canary step", "vs first", "foreign cores",
                   "steal", "load (1 min)"]  # fmt: skip
        first = verdict.canary_medians[0] if verdict.canary_medians else None
        rows = []
        for canary in canaries:
            machine = canary.get("machine") or {}
            median = canary.get("median_s")
            rows.append(
                [
                    str(canary.get("seq", "")),
                    str(canary.get("when", "")),
                    str(canary.get("round", "")),
                    format_seconds(median) if median else canary.get("reason", "—"),
                    f"{median / first:.3f}×" if median and first else "—",
                    f"{machine['foreign_cores']:.2f}" if machine else "—",
                    format_percent(machine["steal_fraction"]) if machine else "—",
                    f"{machine['load_1m']:.2f}" if machine else "—",
                ]
            )
        parts.append(table(headers, rows, left=2))
        parts.append(
            "The canary is a fixed workload (a chain of 512×512 float32 matmuls, 50 per "
            "sample, after a warm-up sample) timed before every round and at the end, each "
            "time in that round's fresh worker; *foreign cores* "
            "is the CPU other processes used since the previous reading, from `/proc/stat` "
            "less blockbench's own processes."
        )
    return "\n\n".join(parts)
