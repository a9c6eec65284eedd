"""Compare two runs cell by cell: is B faster or slower than A?

Cells are matched by ``cell_id`` (the same configuration has the same id everywhere). Each
timing cell present in both runs gets the ratio B/A of its median step time with a 95%
hierarchical-bootstrap interval, a test on its rounds (Welch's t-test on log round
medians; Mann–Whitney on raw samples for single-round stores), and a verdict (see
:mod:`reports.significance` for the rule). Warnings list the environment fingerprint keys
that differ (hostnames and timestamps ignored; commits shown, as they are what is
compared) and say when either run's machine was busy (`reports.machine`).

**The common shift.** On a shared VM the machine's speed drifts, and every workload
feels it alike: two quick runs of one commit 20 minutes apart differed by 12% in every
cell at once (`benchmarks/machine_drift.py` shows the same at the 10-second scale inside
one process). So the comparison also estimates the shift common to all cells, the median
of their B/A ratios with a 95% bootstrap interval over cells, and gives each cell's
ratio relative to it with a second verdict by the same rule (B's samples divided by the
common shift). A shift common to every cell is what a change of machine speed, or of
the whole framework, looks like; a change of one block stands out relative to it. The
common shift and its verdicts are the fallback view of runs without a reference:

**The reference workload.** Runs measured since measurement version 6 also sample fixed
reference cells (`bench.spec.reference`) in every sweep, beside the cells. When both
runs have them (the same workload version), each cell's verdict is on its step time
*relative to the reference's in the same round* (`bench.results.reference`): the
machine's speed cancels round by round, and a change of the code does not, because no
change to the blocks or the config touches the reference (when *every* cell got
slower, the common shift would absorb it; the reference does not). The raw B/A stays
beside it, and the reference's own B/A says how far the machine moved. Two things
vary between runs that no round of either run shows, and each such verdict's test and
interval include them (`BetweenRuns`): a cell's own drift relative to the reference
(the robust spread of all cells' ratios less their own sampling variance; it matters
once many rounds make each cell's test tight), and the reference's own level (its
forward and train cells moved apart by up to 12% between runs here). That verdict is
the one ``--fail-on-regression`` reads; without a reference on both sides (older
stores, a shard without one) it is the verdict on the raw round samples.

``blockbench compare A B`` prints :func:`render_comparison` of :func:`compare_runs`, and
with ``--fail-on-regression`` exits 1 when :attr:`Comparison.any_slower`. ``any_slower``
means *significantly* slower. A cell slower beyond the threshold that the test could not
confirm (``inconclusive``, or ``insufficient samples``) is a possible regression:
:attr:`Comparison.any_inconclusive_slower` says whether there is one, and the markdown
counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.results.moments import with_moments
from bench.results.reference import ReferenceClock
from bench.results.store import RunInfo, Store, StoredCell
from bench.spec.cell import TIMING_PASSES
from bench.spec.reference import is_reference
from reports.environment import EnvDifference, commit_text, env_differences
from reports.frames import open_store
from reports.machine import MachineVerdict
from reports.markdown import table
from reports.significance import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    FASTER,
    INCONCLUSIVE,
    INSUFFICIENT,
    SAME,
    SLOWER,
    SampleComparison,
    compare_measurements,
    samples_needed,
)
from reports.units import (
    MISSING,
    format_p_value,
    format_ratio,
    format_seconds,
    is_missing,
)

NOT_COMPARED = "n/a"
REFERENCE, RAW = "reference", "raw"  # what a cell's verdict was computed on
MIN_CELLS_FOR_SHIFT = 5  # cells compared before a common shift is estimated
_ORDER = {SLOWER: 0, FASTER: 1, INCONCLUSIVE: 2, INSUFFICIENT: 3, NOT_COMPARED: 4, SAME: 5}


@dataclass(frozen=True)
class CellComparison:
    """One cell present in both runs; ``stats`` is ``None`` when a side has no samples.

    ``stats`` is the comparison the verdict comes from: relative to the reference
    workload when ``basis`` is `REFERENCE` (then ``raw`` is the comparison of the raw
    samples, shown beside it), else of the raw samples themselves. ``relative`` is the
    raw test with B divided by the runs' common shift (``None`` unless every cell moved
    together, `CommonShift.beyond`, in a comparison without a reference)."""

    cell_id: str
    label: str
    stats: SampleComparison | None
    note: str = ""
    relative: SampleComparison | None = None
    raw: SampleComparison | None = None
    basis: str = RAW

    @property
    def raw_stats(self) -> SampleComparison | None:
        """The comparison of the raw samples (whatever the verdict's basis)."""
        return self.raw if self.basis == REFERENCE else self.stats

    @property
    def verdict(self) -> str:
        return NOT_COMPARED if self.stats is None else self.stats.verdict


@dataclass(frozen=True)
class Comparison:
    """Run B against run A."""

    run_a: RunInfo
    run_b: RunInfo
    threshold: float
    alpha: float
    cells: tuple[CellComparison, ...]
    env_differences: tuple[EnvDifference, ...]
    only_in_a: int
    only_in_b: int
    machine_a: MachineVerdict | None = None
    machine_b: MachineVerdict | None = None
    shift: CommonShift | None = None
    references: tuple[CellComparison, ...] = ()  # the reference cells' own raw B/A
    between: BetweenRuns | None = None  # added to every verdict relative to the reference

    @property
    def on_reference(self) -> int:
        """How many cells' verdicts are relative to the reference workload."""
        return sum(cell.basis == REFERENCE for cell in self.cells)

    @property
    def any_slower(self) -> bool:
        """True when some cell is significantly slower in B (for ``--fail-on-regression``)."""
        return any(cell.verdict == SLOWER for cell in self.cells)

    @property
    def inconclusive_slower(self) -> tuple[CellComparison, ...]:
        """Cells slower in B beyond the threshold that the test could not confirm."""
        return tuple(
            cell
            for cell in self.cells
            if cell.verdict in (INSUFFICIENT, INCONCLUSIVE)
            and cell.stats is not None
            and cell.stats.ratio > 1.0 + self.threshold
        )

    @property
    def any_inconclusive_slower(self) -> bool:
        """True when some untestable cell is slower beyond the threshold (a possible
        regression the test could not confirm; not part of :attr:`any_slower`)."""
        return bool(self.inconclusive_slower)

    def count(self, verdict: str) -> int:
        return sum(cell.verdict == verdict for cell in self.cells)


@dataclass(frozen=True)
class CommonShift:
    """The B/A shift common to all compared cells: the median of their ratios, with a
    95% percentile-bootstrap interval over cells (2,000 resamples, fixed seed).

    >>> shift = CommonShift.of([1.10, 1.12, 1.15, 1.11, 1.30, 1.09])
    >>> round(shift.ratio, 3), shift.cells, shift.low > 1.05
    (1.115, 6, True)
    """

    ratio: float
    low: float
    high: float
    cells: int

    @classmethod
    def of(cls, ratios: Sequence[float]) -> CommonShift:
        logs = np.log(np.asarray(ratios, dtype=float))
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        draws = np.median(logs[rng.integers(0, logs.size, (BOOTSTRAP_RESAMPLES, logs.size))], 1)
        low, high = np.exp(np.percentile(draws, [2.5, 97.5]))
        return cls(float(np.exp(np.median(logs))), float(low), float(high), int(logs.size))

    def beyond(self, threshold: float) -> bool:
        """Whether the whole interval lies beyond half the verdict threshold: every cell
        moved together by more than noise.

        >>> moved, still = CommonShift(1.12, 1.10, 1.14, 100), CommonShift(1.02, 0.99, 1.05, 9)
        >>> moved.beyond(0.10), still.beyond(0.10)
        (True, False)
        """
        edge = 1.0 + threshold / 2
        return self.low > edge or self.high < 1.0 / edge


def _timing_cells(store: Store, run_id: str) -> dict[str, StoredCell]:
    """One run's timing cells (the reference's too), each with its samples at the run's
    typical machine speed derived (`bench.results.moments`; the raw ones stay)."""
    adjusted, _ = with_moments(store.cells(run_id))
    return {item.cell.cell_id: item for item in adjusted if item.cell.pass_ in TIMING_PASSES}


Place = tuple[str, str]  # backend, device: where a reference workload was measured
Relative = tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, ...], ...]]  # A's, B's


def _clocks(cells_a: dict[str, StoredCell], cells_b: dict[str, StoredCell]
            ) -> tuple[dict[Place, ReferenceClock], dict[Place, ReferenceClock]]:  # fmt: skip
    """Each run's reference clocks by place, from the reference cells both runs have
    (the same ids: the same workload version) with ok timings."""
    shared = [
        cid for cid in set(cells_a) & set(cells_b)
        if is_reference(cells_a[cid].cell)
        and all(c[cid].result.status == "ok" and c[cid].result.timing for c in (cells_a, cells_b))
    ]  # fmt: skip
    clocks: tuple[dict[Place, ReferenceClock], ...] = ({}, {})
    for cells, found in zip((cells_a, cells_b), clocks, strict=True):
        by_place: dict[Place, list[StoredCell]] = {}
        for cid in sorted(shared):
            item = cells[cid]
            by_place.setdefault((item.cell.backend, item.cell.device), []).append(item)
        for place, items in by_place.items():
            timings = {item.cell.cell_id: item.result.timing for item in items}
            found[place] = ReferenceClock.of(
                {cid: t.rounds for cid, t in timings.items()},
                {cid: t.stat_samples for cid, t in timings.items()},
            )
    return clocks


def _compare_cell(
    a: StoredCell,
    b: StoredCell,
    *,
    threshold: float,
    alpha: float,
    clocks: tuple[ReferenceClock | None, ReferenceClock | None] = (None, None),
) -> tuple[CellComparison, Relative | None]:
    """The cell's comparison, on its samples relative to the reference when both sides
    have a reference level for every round (and then those samples, to test again with
    the variance between runs), else on its raw samples."""
    samples = [s.result.timing.round_samples if s.result.timing else () for s in (a, b)]
    missing = [
        f"{s.result.status} in {side}"
        for side, s, values in (("A", a, samples[0]), ("B", b, samples[1]))
        if not values
    ]
    if missing:
        return CellComparison(a.cell.cell_id, a.cell.label, None, "; ".join(missing)), None
    raw = compare_measurements(samples[0], samples[1], threshold=threshold, alpha=alpha)
    rel_a, rel_b = (
        clock.relative(s.result.timing.rounds, s.result.timing.stat_samples) if clock else None
        for clock, s in zip(clocks, (a, b), strict=True)
    )
    if rel_a is None or rel_b is None:
        return CellComparison(a.cell.cell_id, a.cell.label, raw), None
    stats = compare_measurements(rel_a, rel_b, threshold=threshold, alpha=alpha)
    cell = CellComparison(a.cell.cell_id, a.cell.label, stats, raw=raw, basis=REFERENCE)
    return cell, (rel_a, rel_b)


@dataclass(frozen=True)
class BetweenRuns:
    """What moves between two runs that no round of either can show, as sds of log time.

    ``cells``: how far a cell moves on its own relative to the reference, the robust
    spread (1.4826 × MAD) of the cells' log B/A less their own sampling variance (from
    their intervals). ``reference``: how uncertain the reference's own level is, the
    variance of its cells' log B/A over their count (workloads feel the machine
    differently: the two reference cells moved apart by up to 12% between runs here).
    Every verdict relative to the reference adds both to its test and its interval.

    >>> BetweenRuns.of([1.0] * 3, [0.01] * 3, [1.1, 1.1]).sd  # too few cells: reference only
    0.0
    >>> round(BetweenRuns.of([0.9, 1.0, 1.1, 1.0, 1.05, 0.95], [0.0] * 6, [1.0, 1.2]).sd, 3)
    0.118
    """

    cells: float
    reference: float
    count: int

    @property
    def sd(self) -> float:
        return float(np.hypot(self.cells, self.reference))

    @classmethod
    def of(cls, ratios: Sequence[float], own_sd: Sequence[float],
           reference_ratios: Sequence[float]) -> BetweenRuns:  # fmt: skip
        cells = 0.0
        if len(ratios) >= MIN_CELLS_FOR_SHIFT:
            logs = np.log(np.asarray(ratios, dtype=float))
            spread = 1.4826 * float(np.median(np.abs(logs - np.median(logs))))
            own = float(np.median(np.square(own_sd)))
            cells = float(np.sqrt(max(0.0, spread**2 - own)))
        reference = 0.0
        if len(reference_ratios) > 1:
            logs = np.log(np.asarray(reference_ratios, dtype=float))
            reference = float(np.sqrt(np.var(logs, ddof=1) / logs.size))
        return cls(cells, reference, len(ratios))


def _own_sd(stats: SampleComparison) -> float:
    """A comparison's own sd of log B/A, from its 95% interval."""
    return float(np.log(stats.ratio_high / stats.ratio_low)) / (2 * 1.96)


def compare_runs(
    store_a: Store | str | Path,
    run_a: str,
    store_b: Store | str | Path,
    run_b: str,
    *,
    threshold: float = 0.10,
    alpha: float = 0.002,
) -> Comparison:
    """Compare run B with run A (stores given open or as paths; run ids may be prefixes).

    >>> import tempfile, os
    >>> store = Store(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> for run in ("a", "b"):
    ...     store.create_run(run, name=run, config_hash="h", config={}, env={}, total_cells=0)
    >>> compare_runs(store, "a", store, "b").any_slower
    False
    """
    opened_a, opened_b = open_store(store_a), open_store(store_b)
    try:
        info_a, info_b = opened_a.run(run_a), opened_b.run(run_b)
        cells_a = _timing_cells(opened_a, info_a.run_id)
        cells_b = _timing_cells(opened_b, info_b.run_id)
        machine_a = MachineVerdict.from_canaries(opened_a.canaries(info_a.run_id))
        machine_b = MachineVerdict.from_canaries(opened_b.canaries(info_b.run_id))
    finally:
        for opened, given in ((opened_a, store_a), (opened_b, store_b)):
            if opened is not given:
                opened.close()
    shared = sorted(set(cells_a) & set(cells_b), key=lambda cid: cells_a[cid].cell.label)
    clocks_a, clocks_b = _clocks(cells_a, cells_b)

    def compare(cid: str) -> tuple[CellComparison, Relative | None]:
        place = (cells_a[cid].cell.backend, cells_a[cid].cell.device)
        return _compare_cell(cells_a[cid], cells_b[cid], threshold=threshold, alpha=alpha,
                             clocks=(clocks_a.get(place), clocks_b.get(place)))  # fmt: skip

    pairs = [compare(cid) for cid in shared if not is_reference(cells_a[cid].cell)]
    references = tuple(
        _compare_cell(cells_a[cid], cells_b[cid], threshold=threshold, alpha=alpha)[0]
        for cid in shared
        if is_reference(cells_a[cid].cell)
    )
    relative = [c.stats for c, samples in pairs if samples is not None]
    between = None
    if relative:
        between = BetweenRuns.of([s.ratio for s in relative], [_own_sd(s) for s in relative],
                                 [c.stats.ratio for c in references if c.stats])  # fmt: skip
    compared = [
        replace(
            cell,
            stats=compare_measurements(
                *samples, threshold=threshold, alpha=alpha, between_sd=between.sd
            ),
        )  # fmt: skip
        if samples is not None and between is not None and between.sd > 0
        else cell
        for cell, samples in pairs
    ]
    ratios = [c.raw_stats.ratio for c in compared if c.raw_stats is not None]
    shift = CommonShift.of(ratios) if len(ratios) >= MIN_CELLS_FOR_SHIFT else None
    on_reference = any(c.basis == REFERENCE for c in compared)
    if shift is not None and shift.beyond(threshold) and not on_reference:
        compared = [
            _relative(
                c,
                cells_a[c.cell_id],
                cells_b[c.cell_id],
                shift.ratio,
                threshold=threshold,
                alpha=alpha,
            )  # fmt: skip
            for c in compared
        ]
    compared.sort(key=lambda c: (_ORDER[c.verdict], -(c.stats.ratio if c.stats else 0.0), c.label))
    return Comparison(
        run_a=info_a,
        run_b=info_b,
        threshold=threshold,
        alpha=alpha,
        cells=tuple(compared),
        env_differences=tuple(env_differences(info_a.env, info_b.env)),
        only_in_a=len(_users(cells_a, set(cells_a) - set(cells_b))),
        only_in_b=len(_users(cells_b, set(cells_b) - set(cells_a))),
        machine_a=machine_a,
        machine_b=machine_b,
        shift=shift,
        references=references,
        between=between,
    )


def _users(cells: dict[str, StoredCell], ids: set[str]) -> set[str]:
    """The ids that are not the reference workload's."""
    return {cid for cid in ids if not is_reference(cells[cid].cell)}


def _relative(
    cell: CellComparison, a: StoredCell, b: StoredCell, shift: float, *, threshold: float,
    alpha: float,
) -> CellComparison:  # fmt: skip
    """The cell's comparison with B's samples divided by the common shift. Both sides'
    samples are taken at their run's typical machine speed (the moment effects removed):
    once the whole run's shift is divided out, the machine's wander within each run is
    what remains to confuse a verdict, and it is common to all cells."""
    if cell.stats is None:
        return cell
    rounds_b = [[v / shift for v in r] for r in b.result.timing.stat_samples]
    relative = compare_measurements(a.result.timing.stat_samples, rounds_b,
                                    threshold=threshold, alpha=alpha)  # fmt: skip
    return replace(cell, relative=relative)


def render_comparison(comparison: Comparison) -> str:
    """The comparison as markdown: header, environment warning, rule, counts, table."""
    a, b = comparison.run_a, comparison.run_b
    parts = [
        f"# blockbench comparison: A `{a.run_id}` → B `{b.run_id}`",
        f"A: {a.name}, commit {commit_text(a.env)}, host {a.env.get('hostname') or MISSING}. "
        f"B: {b.name}, commit {commit_text(b.env)}, host {b.env.get('hostname') or MISSING}.",
    ]
    if comparison.env_differences:
        listed = "; ".join(d.describe() for d in comparison.env_differences)
        parts.append(
            f"> **Warning:** the environments differ: {listed}. Differences in time may come "
            "from the environment rather than the code."
        )
    for side, verdict in (("A", comparison.machine_a), ("B", comparison.machine_b)):
        if verdict is not None and verdict.busy:
            parts.append(
                f"> **Warning:** the machine was busy while run {side} measured: "
                + "; ".join(verdict.reasons)
                + ". Its numbers are suspect, and so is any verdict below."
            )
    parts.append(
        f"A cell is *slower* only when B/A > {1 + comparison.threshold:g}, or *faster* only "
        f"when B/A < 1/{1 + comparison.threshold:g}, **and** the test gives "
        f"p < {comparison.alpha:g}; beyond the threshold without that, *inconclusive*; "
        "otherwise *same*. The test is Welch's t-test on the logs of the rounds' median "
        "step times (each round ran in its own process at its own moment, so a round, not "
        "a sample, is the independent unit); a run with a single round falls back to a "
        "two-sided Mann–Whitney U test on its raw samples. B/A is the ratio of median step "
        "times; its 95% interval is a hierarchical bootstrap (rounds, then samples within "
        "them; 2,000 resamples, fixed seed)."
    )
    parts.append(_counts(comparison))
    if comparison.references:
        parts.append(_reference_sentence(comparison))
    shift = comparison.shift
    if shift is not None:
        canary = _canary_ratio(comparison)
        text = (
            f"**Common shift:** over the {shift.cells} compared cells, the median B/A is "
            f"{format_ratio(shift.ratio, digits=3)} (95% interval "
            f"{format_ratio(shift.low, digits=3)}–{format_ratio(shift.high, digits=3)} over "
            f"cells){canary}."
        )
        if shift.beyond(comparison.threshold) and not comparison.on_reference:
            verdicts = [c.relative.verdict for c in comparison.cells if c.relative is not None]
            relative = ", ".join(
                f"{verdicts.count(v)} {v}" for v in (SLOWER, FASTER, INCONCLUSIVE, SAME)
            )
            text += (
                " **Every cell moved together:** that is what a change of the machine's "
                "speed, or of the whole framework, looks like, not a change of one block. "
                f"Relative to the common shift: {relative} (the *vs shift* columns)."
            )
        parts.append(text)
    untestable = sum(1 for c in comparison.cells if c.stats and not c.stats.testable)
    if untestable:
        possible = len(comparison.inconclusive_slower)
        parts.append(
            f"**Insufficient samples:** {untestable} of {len(comparison.cells)} cells could "
            f"not be tested: they have too few samples for any test to reach "
            f"p < {comparison.alpha:g}, so none of them can be called slower or faster (a "
            f"change beyond the threshold shows as *{INSUFFICIENT}*; within it, *same*). "
            f"{_possible_regressions(possible)} Record at least "
            f"{samples_needed(comparison.alpha)} samples per cell in both runs."
        )
    if comparison.cells:
        parts.append(table(*_rows(comparison), left=1))
    return "\n\n".join(parts) + "\n"


def _reference_sentence(comparison: Comparison) -> str:
    """What the reference workload measured, and what the verdicts are relative to."""
    moved = "; ".join(
        f"{cell.label}: B/A {format_ratio(cell.stats.ratio, digits=3)} "
        f"({format_ratio(cell.stats.ratio_low, digits=3)}–"
        f"{format_ratio(cell.stats.ratio_high, digits=3)})"
        for cell in comparison.references
        if cell.stats is not None
    )
    on = comparison.on_reference
    text = (
        f"**Reference workload** (fixed plain-Keras cells sampled in every sweep, beside "
        f"the cells; `bench.spec.reference`): {moved or 'not measured in both runs'}. "
    )
    if on:
        text += (
            f"The verdicts of {on} of {len(comparison.cells)} cells are on their step time "
            "*relative to the reference's in the same round*: the machine's speed cancels, "
            "a change of the code does not (the *B/A raw* column is before that)."
        )
        between = comparison.between
        if between is not None:
            text += (
                " What no round shows is in every such test and interval too: cells moved on "
                f"their own between the runs by sd {between.cells:.3f} of log time beyond "
                f"their rounds' scatter (the spread of their {between.count} ratios), and the "
                f"reference's own level is uncertain by sd {between.reference:.3f} (its "
                "cells' ratios disagree)."
            )
    else:
        text += "No verdict could be made relative to it: they are on the raw samples."
    return text


def _canary_ratio(comparison: Comparison) -> str:
    """``; the canary's B/A ...`` when both runs timed the canary."""
    medians = [m.canary_medians if m else () for m in (comparison.machine_a, comparison.machine_b)]
    if not all(medians):
        return ""
    ratio = float(np.median(medians[1]) / np.median(medians[0]))
    return (f"; the canary's (a matmul chain's) B/A is {format_ratio(ratio, digits=3)}, which "
            "need not follow small Keras steps")  # fmt: skip


def _possible_regressions(count: int) -> str:
    """The sentence on untestable cells that got slower beyond the threshold."""
    if not count:
        return "None of them is slower beyond the threshold."
    cells = "cell is" if count == 1 else "cells are"
    return (
        f"**{count} untested {cells} slower beyond the threshold: possible regressions** "
        "that this comparison can neither confirm nor rule out."
    )


def _counts(comparison: Comparison) -> str:
    verdicts = (SLOWER, FASTER, INCONCLUSIVE, SAME, INSUFFICIENT, NOT_COMPARED)
    counted = ", ".join(f"{comparison.count(v)} {v}" for v in verdicts if comparison.count(v))
    text = f"{len(comparison.cells)} cells in both runs"
    text += f" ({counted})" if counted else ""
    return f"{text}; {comparison.only_in_a} only in A, {comparison.only_in_b} only in B."


def _rows(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    on_reference = bool(comparison.on_reference)
    ratio = ["B/A raw", "B/A vs reference"] if on_reference else ["B/A"]
    headers = ["cell", "A median", "B median", *ratio, "95% CI", "p", "rounds", "verdict"]
    relative = (comparison.shift is not None and comparison.shift.beyond(comparison.threshold)
                and not on_reference)  # fmt: skip
    if relative:
        headers += ["B/A vs shift", "verdict vs shift"]
    rows = []
    for cell in comparison.cells:
        s, raw = cell.stats, cell.raw_stats
        if s is None:
            rows.append([cell.label, *[MISSING] * (5 + len(ratio)),
                         f"{NOT_COMPARED} ({cell.note})"]
                        + [MISSING] * (2 * relative))  # fmt: skip
            continue
        ratios = [format_ratio(raw.ratio, digits=3)]
        if on_reference:
            ratios.append(format_ratio(s.ratio, digits=3) if cell.basis == REFERENCE else MISSING)
        row = [
            cell.label,
            format_seconds(raw.median_a),
            format_seconds(raw.median_b),
            *ratios,
            f"{format_ratio(s.ratio_low, digits=3)}–{format_ratio(s.ratio_high, digits=3)}",
            format_p_value(None if is_missing(s.p_value) else s.p_value),
            f"{s.rounds_a} / {s.rounds_b}",
            s.verdict,
        ]
        if relative:
            r = cell.relative
            row += [format_ratio(r.ratio, digits=3), r.verdict] if r else [MISSING] * 2
        rows.append(row)
    return headers, rows
