"""Statistics of raw timing samples. Raw samples are kept; everything here is derived.

A timing cell is measured in several *rounds*, each in a fresh worker process at a
different moment of the run. Samples of one round share that process's state and that
minute's machine load, so they are not independent of each other: the spread *between*
rounds is part of the uncertainty (pyperf's lesson). `RoundStats` summarises samples
grouped by round: the pooled median, a 95% interval from a hierarchical bootstrap
(rounds resampled first, then samples within each), and the spread within and between
rounds side by side. `compare_rounds` tests two such measurements on round-level
summaries (Welch's t-test on log round medians), so a drift that moves whole rounds is
not mistaken for a difference.

>>> s = Stats.from_samples([4, 36, 45, 50, 75])
>>> s.mean, s.median, s.min
(42.0, 45.0, 4.0)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

NOISE_THRESHOLD = 0.10  # flat series: IQR/median above this flags a cell as noisy
PRECISION_TARGET = 0.05  # rounds: a 95% CI half-width above 5% of the median is noisy
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """First and third quartile by linear interpolation (numpy's default method).

    >>> quartiles([1, 2, 3, 4, 5])
    (2.0, 4.0)
    >>> quartiles([7])
    (7.0, 7.0)
    """
    if len(values) == 1:
        return float(values[0]), float(values[0])
    q1, _, q3 = statistics.quantiles([float(v) for v in values], n=4, method="inclusive")
    return q1, q3


@dataclass(frozen=True)
class Stats:
    """Summary of one flat series of samples (seconds per step, typically)."""

    count: int
    median: float
    iqr: float
    min: float
    max: float
    mean: float
    stddev: float

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> Stats:
        """Summarise samples; raises ``ValueError`` on an empty series."""
        if not samples:
            raise ValueError("no samples to summarise")
        values = [float(v) for v in samples]
        q1, q3 = quartiles(values)
        return cls(
            count=len(values),
            median=float(statistics.median(values)),
            iqr=q3 - q1,
            min=min(values),
            max=max(values),
            mean=float(statistics.fmean(values)),
            stddev=float(statistics.stdev(values)) if len(values) > 1 else 0.0,
        )

    @property
    def relative_iqr(self) -> float:
        """IQR / median, the noise measure (0 when the median is 0)."""
        return self.iqr / self.median if self.median else 0.0

    @property
    def noisy(self) -> bool:
        """True when IQR/median exceeds 10%."""
        return self.relative_iqr > NOISE_THRESHOLD


@dataclass(frozen=True)
class RoundStats:
    """Samples taken in rounds (fresh processes), summarised with the rounds in mind.

    - ``median``: the median of all samples pooled (the reported step time);
    - ``ci_low``/``ci_high``: its 95% hierarchical-bootstrap interval;
    - ``within``: the typical spread inside one round, the median over rounds of each
      round's IQR / median;
    - ``between``: the spread of the rounds' medians, their (max - min) / median: with
      one round it is 0 and says nothing, which ``rounds`` shows.

    >>> s = RoundStats.from_rounds([[1.0, 1.02, 0.98], [1.2, 1.22, 1.18], [1.1, 1.12, 1.08]])
    >>> s.rounds, s.count, s.median, round(s.between, 3), round(s.within, 3)
    (3, 9, 1.1, 0.182, 0.018)
    >>> s.ci_low < 1.05 and s.ci_high > 1.15  # the interval reflects the rounds' drift
    True
    """

    rounds: int
    count: int
    median: float
    ci_low: float
    ci_high: float
    within: float
    between: float
    round_medians: tuple[float, ...]

    @classmethod
    def from_rounds(cls, rounds: Sequence[Sequence[float]]) -> RoundStats:
        """Summarise samples grouped by round; empty rounds are ignored; raises
        ``ValueError`` when no round has a sample."""
        groups = [np.asarray(r, dtype=float) for r in rounds if len(r)]
        if not groups:
            raise ValueError("no samples to summarise")
        pooled = np.concatenate(groups)
        median = float(np.median(pooled))
        medians = tuple(float(np.median(g)) for g in groups)
        low, high = hierarchical_interval(groups, np.nanmedian)
        within = statistics.median(_relative_iqr(g) for g in groups)
        between = (max(medians) - min(medians)) / median if median else 0.0
        return cls(len(groups), int(pooled.size), median, low, high, within, between, medians)

    @property
    def relative_ci(self) -> float:
        """Half the width of the 95% interval, relative to the median.

        >>> RoundStats(3, 9, 2.0, 1.9, 2.1, 0.0, 0.0, (2.0,)).relative_ci
        0.05...
        """
        return (self.ci_high - self.ci_low) / 2 / self.median if self.median else 0.0

    @property
    def noisy(self) -> bool:
        """True when the 95% interval is wider than +-5% of the median (the precision
        blockbench aims for), or when one round holds all samples and its own IQR exceeds
        10% (its between-round spread is unknown)."""
        if self.rounds == 1:
            return self.within > NOISE_THRESHOLD
        return self.relative_ci > PRECISION_TARGET


def _relative_iqr(values: np.ndarray) -> float:
    q1, q3 = quartiles(values.tolist())
    median = float(np.median(values))
    return (q3 - q1) / median if median else 0.0


def hierarchical_interval(
    groups: Sequence[np.ndarray],
    statistic,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` (a numpy reduction taking ``axis=``) of the
    pooled samples, by a two-level bootstrap: draw the rounds with replacement, then
    the samples within each drawn round with replacement. Fixed seed: the same samples
    always give the same interval.

    >>> groups = [np.array([1.0, 1.0]), np.array([2.0, 2.0])]
    >>> hierarchical_interval(groups, np.nanmedian)
    (1.0, 2.0)
    """
    values = _resampled(groups, resamples, np.random.default_rng(seed))
    estimates = statistic(values, axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def _resampled(groups: Sequence[np.ndarray], resamples: int, rng: np.random.Generator):
    """``resamples`` rows of pooled samples, each a two-level bootstrap draw."""
    count = len(groups)
    picks = rng.integers(0, count, (resamples, count))
    sizes = {g.size for g in groups}
    if len(sizes) == 1:  # equal rounds: one vectorised draw
        size = sizes.pop()
        table = np.stack(groups)
        inner = rng.integers(0, size, (resamples, count, size))
        return table[picks[:, :, None], inner].reshape(resamples, count * size)
    rows = []
    for pick in picks:
        rows.append(np.concatenate([rng.choice(groups[i], groups[i].size) for i in pick]))
    width = max(r.size for r in rows)
    padded = np.full((resamples, width), np.nan)
    for index, row in enumerate(rows):
        padded[index, : row.size] = row
    return padded


@dataclass(frozen=True)
class RoundComparison:
    """B against A, on round-level summaries.

    ``ratio`` is median(B) / median(A) of the pooled samples; ``ratio_low``/``ratio_high``
    its 95% interval (hierarchical bootstrap of both sides, independently). ``p_value``
    comes from Welch's t-test on the logs of the round medians (``method = "welch
    rounds"``), which needs two rounds a side; measurements with a single round are
    compared on raw samples by `reports.significance.compare_samples`.
    """

    rounds_a: int
    rounds_b: int
    median_a: float
    median_b: float
    ratio: float
    ratio_low: float
    ratio_high: float
    p_value: float
    method: str


WELCH_ROUNDS = "welch rounds"


def compare_rounds(
    rounds_a: Sequence[Sequence[float]],
    rounds_b: Sequence[Sequence[float]],
    *,
    between_sd: float = 0.0,
) -> RoundComparison:
    """Compare two measurements given as samples grouped by round.

    ``between_sd`` is a variance the rounds cannot show, as an sd of log time: how far
    a cell moves on its own from one run to the next, beyond its rounds' scatter
    (`reports.compare` estimates it from the cells of the two runs). It is added to the
    test's variance and to the interval (each bootstrap ratio times a normal draw).

    >>> a = [[1.00, 1.01], [1.01, 1.02], [0.99, 1.00]]
    >>> same = compare_rounds(a, [[1.0, 1.02], [1.0, 1.01], [1.01, 1.02]])
    >>> same.method, round(same.ratio, 3), same.p_value > 0.2
    ('welch rounds', 1.005, True)
    >>> slower = compare_rounds(a, [[1.30, 1.31], [1.32, 1.33], [1.29, 1.30]])
    >>> round(slower.ratio, 2), slower.p_value < 0.002, slower.ratio_low > 1.25
    (1.3, True, True)
    """
    groups_a = [np.asarray(r, dtype=float) for r in rounds_a if len(r)]
    groups_b = [np.asarray(r, dtype=float) for r in rounds_b if len(r)]
    if len(groups_a) < 2 or len(groups_b) < 2:
        raise ValueError("a round-level test needs at least two rounds with samples a side")
    pooled_a, pooled_b = np.concatenate(groups_a), np.concatenate(groups_b)
    median_a, median_b = float(np.median(pooled_a)), float(np.median(pooled_b))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    boot_a = np.nanmedian(_resampled(groups_a, BOOTSTRAP_RESAMPLES, rng), axis=1)
    boot_b = np.nanmedian(_resampled(groups_b, BOOTSTRAP_RESAMPLES, rng), axis=1)
    tail = 100 * (1 - CONFIDENCE) / 2
    ratios = boot_b / boot_a
    if between_sd > 0:
        ratios = ratios * np.exp(rng.normal(0.0, between_sd, ratios.shape))
    low, high = np.percentile(ratios, [tail, 100 - tail])
    logs_a = np.log([np.median(g) for g in groups_a])
    logs_b = np.log([np.median(g) for g in groups_b])
    p_value, method = _welch(logs_a, logs_b, between_sd**2), WELCH_ROUNDS
    return RoundComparison(
        len(groups_a), len(groups_b), median_a, median_b, median_b / median_a,
        float(low), float(high), p_value, method,
    )  # fmt: skip


def _welch(a: np.ndarray, b: np.ndarray, extra: float = 0.0) -> float:
    """Two-sided p of Welch's t-test, with ``extra`` (a known variance of the difference)
    added to the standard error; the degrees of freedom are Welch–Satterthwaite's for the
    sampled part (infinite when only ``extra`` is left).

    >>> a, b = np.log([1.0, 1.02, 0.99]), np.log([1.10, 1.12, 1.09])
    >>> round(_welch(a, b), 6) == round(float(scipy_stats.ttest_ind(a, b, equal_var=False)
    ...                                       .pvalue), 6)
    True
    >>> _welch(a, b) < 0.002 < _welch(a, b, extra=0.05**2)
    True
    """
    var_a = float(np.var(a, ddof=1)) / a.size
    var_b = float(np.var(b, ddof=1)) / b.size
    difference = float(np.mean(b) - np.mean(a))
    sampled = var_a + var_b
    if sampled + extra == 0:
        return 1.0 if difference == 0 else 0.0  # no spread at all: equal or certainly apart
    if sampled > 0:
        df = sampled**2 / (var_a**2 / (a.size - 1) + var_b**2 / (b.size - 1))
    else:
        df = math.inf
    t = abs(difference) / math.sqrt(sampled + extra)
    p_value = float(2 * scipy_stats.t.sf(t, df))
    return 1.0 if math.isnan(p_value) else p_value


def min_welch_rounds(alpha: float, ratio: float, between_cv: float) -> int:
    """Rounds per side with which Welch's test on log round medians can call a change of
    ``ratio`` significant at ``alpha`` when round medians scatter by ``between_cv``
    (their coefficient of variation): the planning number behind the presets' rounds.

    >>> min_welch_rounds(0.002, 1.3, 0.03)
    3
    >>> min_welch_rounds(0.002, 1.1, 0.03)
    5
    """
    for rounds in range(2, 100):
        standard_error = between_cv * math.sqrt(2 / rounds)
        critical = scipy_stats.t.ppf(1 - alpha / 2, 2 * rounds - 2)
        if math.log(ratio) / standard_error > critical:
            return rounds
    return 100
