"""Is B faster or slower than A? Two measurements of seconds per step, compared.

Measurements taken in rounds (fresh processes at different moments) are compared by
:func:`compare_measurements` on round-level summaries: Welch's t-test on the logs of the
round medians (`bench.results.stats.compare_rounds`), because samples of one round share
a process and a moment and are not independent; a change counts only when the ratio of
medians is beyond the threshold **and** ``p < alpha``. A change beyond the threshold
that the test does not confirm is ``inconclusive``, not ``same``. Measurements with a
single round (stores written before rounds) fall back to the rule below, on raw samples.

The single-round rule is asv's: a change counts only when the ratio of medians B/A is beyond a
multiplicative threshold (slower: ``B/A > 1 + threshold``; faster: ``B/A < 1 / (1 +
threshold)``, so 10% slower and its mirror image, 1.1× faster, count alike) **and** a
two-sided Mann–Whitney U test on the raw samples gives ``p < alpha``. When the sample
counts are too small for any arrangement to reach ``p < alpha`` (the smallest exact
two-sided p is ``2 / C(n_a + n_b, n_a)``: 0.0079 for 5 vs 5), a change beyond the
threshold gets the verdict ``insufficient samples`` instead of a silent ``same``; a change
within the threshold is ``same`` whatever the counts (the test could not make it anything
else), and ``testable`` is False so callers can say so.

Which Mann–Whitney p-value (see :func:`mann_whitney`): scipy's default (``method="auto"``)
falls back to the normal approximation as soon as any two samples tie, and timings tie
often (a coarse clock, repeated values); for 7 vs 7 fully separated samples with a tie that
approximation gives p ≈ 0.0020, not the exact 2 / C(14, 7) ≈ 0.00058 that
:func:`min_p_value` promises. So: when both sets have more than
:data:`ASYMPTOTIC_ABOVE` samples, the normal approximation (tie-corrected; accurate at
these sizes); otherwise, without ties, scipy's exact distribution of U (``method="exact"``,
which assumes no ties); with ties, a permutation test of U (scipy's ``PermutationMethod``:
every split of the pooled samples when there are at most :data:`PERMUTATIONS`, else that
many random splits from a fixed seed). Both small-sample methods reach the floor of
:func:`min_p_value` for fully separated samples.

The 95% interval of the ratio of medians B/A is a percentile bootstrap: 2,000 resamples of
each set (with replacement, independently), numpy's generator with a fixed seed (0), so the
same samples always give the same interval.

>>> result = compare_samples([1.0] * 10, [1.5] * 10)
>>> result.verdict, round(result.ratio, 2)
('slower', 1.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import PermutationMethod, mannwhitneyu

from bench.results.stats import compare_rounds

FASTER, SLOWER, SAME, INSUFFICIENT = "faster", "slower", "same", "insufficient samples"
INCONCLUSIVE = "inconclusive"
ROUNDS = "welch rounds"  # the method name of the round-level test
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
ASYMPTOTIC_ABOVE = 8  # both sets larger than this: the normal approximation (as scipy)
PERMUTATIONS = 20_000  # splits a permutation test draws at most (all of them when fewer)
PERMUTATION_SEED = 0
EXACT, PERMUTATION, ASYMPTOTIC = "exact", "permutation", "asymptotic"


@dataclass(frozen=True)
class SampleComparison:
    """B against A: medians, ratio B/A with its bootstrap interval, p-values, verdict."""

    count_a: int
    count_b: int
    median_a: float
    median_b: float
    ratio: float
    ratio_low: float
    ratio_high: float
    p_value: float
    min_p_value: float
    verdict: str
    alpha: float
    method: str = EXACT  # how p was computed: exact, permutation, asymptotic, welch rounds
    rounds_a: int = 1
    rounds_b: int = 1

    @property
    def testable(self) -> bool:
        """Whether these sample counts can reach ``p < alpha`` at all."""
        return self.min_p_value < self.alpha


def min_p_value(count_a: int, count_b: int) -> float:
    """The smallest two-sided p an exact Mann–Whitney test can give for these counts.

    >>> round(min_p_value(5, 5), 4), min_p_value(1, 1)
    (0.0079, 1.0)
    """
    return min(1.0, 2.0 / math.comb(count_a + count_b, count_a))


def samples_needed(alpha: float) -> int:
    """The fewest samples per side (equal counts) with which ``p < alpha`` is reachable.

    >>> samples_needed(0.002), samples_needed(0.05)
    (7, 4)
    """
    count = 1
    while min_p_value(count, count) >= alpha:
        count += 1
    return count


def mann_whitney(a: np.ndarray, b: np.ndarray) -> tuple[float, str]:
    """Two-sided Mann–Whitney U p-value of two sample sets, and the method that gave it.

    >>> separated = np.array([1.0, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5])  # one tie
    >>> p, method = mann_whitney(separated, separated + 1.0)
    >>> method, round(p, 5), round(min_p_value(7, 7), 5)
    ('permutation', 0.00058, 0.00058)
    >>> mann_whitney(np.arange(7.0), np.arange(7.0) + 10)[1]
    'exact'
    >>> mann_whitney(np.arange(9.0), np.arange(9.0) + 10)[1]
    'asymptotic'
    """
    if a.size > ASYMPTOTIC_ABOVE and b.size > ASYMPTOTIC_ABOVE:
        method: str | PermutationMethod = ASYMPTOTIC
    elif np.unique(np.concatenate([a, b])).size == a.size + b.size:
        method = EXACT
    else:  # scipy's exact distribution assumes no ties: permute instead
        rng = np.random.default_rng(PERMUTATION_SEED)
        method = PermutationMethod(n_resamples=PERMUTATIONS, rng=rng)
    p_value = float(mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue)
    return min(1.0, p_value), method if isinstance(method, str) else PERMUTATION


def is_beyond_threshold(ratio: float, threshold: float) -> bool:
    """Whether B/A is slower than ``1 + threshold`` or faster than ``1 / (1 + threshold)``.

    >>> is_beyond_threshold(1.11, 0.1), is_beyond_threshold(1 / 1.11, 0.1)
    (True, True)
    >>> is_beyond_threshold(0.91, 0.1), is_beyond_threshold(0.905, 0.1)  # 1/0.905 = 1.105
    (False, True)
    """
    return ratio > 1.0 + threshold or ratio < 1.0 / (1.0 + threshold)


def bootstrap_ratio(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Percentile bootstrap interval of median(b) / median(a) (fixed seed)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    medians_a = np.median(a[rng.integers(0, len(a), (BOOTSTRAP_RESAMPLES, len(a)))], axis=1)
    medians_b = np.median(b[rng.integers(0, len(b), (BOOTSTRAP_RESAMPLES, len(b)))], axis=1)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(medians_b / medians_a, [tail, 100 - tail])
    return float(low), float(high)


def compare_samples(
    samples_a: Sequence[float],
    samples_b: Sequence[float],
    *,
    threshold: float = 0.10,
    alpha: float = 0.002,
) -> SampleComparison:
    """Compare two sets of positive samples (seconds per step); raises on an empty set.

    >>> compare_samples([1.0, 1.1, 0.9] * 4, [1.0, 1.1, 0.9] * 4).verdict
    'same'
    >>> compare_samples([1.0, 1.1, 0.9, 1.05, 0.95], [2.0, 2.2, 1.8, 2.1, 1.9]).verdict
    'insufficient samples'
    >>> small = compare_samples([1.0, 1.1, 0.9], [1.0, 1.1, 0.9])
    >>> small.verdict, small.testable
    ('same', False)
    """
    a = np.asarray(samples_a, dtype=float)
    b = np.asarray(samples_b, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("both sample sets need at least one sample")
    median_a, median_b = float(np.median(a)), float(np.median(b))
    ratio = median_b / median_a
    low, high = bootstrap_ratio(a, b)
    if np.all(a == a[0]) and np.all(b == a[0]):
        p_value, method = 1.0, EXACT  # every sample equal: no evidence of a difference
    else:
        p_value, method = mann_whitney(a, b)
    floor = min_p_value(a.size, b.size)
    if not is_beyond_threshold(ratio, threshold):
        verdict = SAME
    elif floor >= alpha:
        verdict = INSUFFICIENT
    elif p_value < alpha:
        verdict = SLOWER if ratio > 1.0 else FASTER
    else:
        verdict = SAME
    return SampleComparison(
        count_a=int(a.size),
        count_b=int(b.size),
        median_a=median_a,
        median_b=median_b,
        ratio=ratio,
        ratio_low=low,
        ratio_high=high,
        p_value=p_value,
        min_p_value=floor,
        verdict=verdict,
        alpha=alpha,
        method=method,
    )


def compare_measurements(
    rounds_a: Sequence[Sequence[float]],
    rounds_b: Sequence[Sequence[float]],
    *,
    threshold: float = 0.10,
    alpha: float = 0.002,
    between_sd: float = 0.0,
) -> SampleComparison:
    """Compare two measurements given as samples grouped by round (see the module doc);
    ``between_sd``: variance between runs that the rounds cannot show
    (`bench.results.stats.compare_rounds`).

    Drift that moves whole rounds is not evidence: here B's rounds sit 4.5% above A's,
    within the spread of A's own rounds, and each round's samples are tight. Pooled,
    Mann-Whitney treats the 9 samples a side as independent and calls B slower (at a 1%
    threshold); on round medians the same data are only ``inconclusive``.

    >>> a = [[1.00, 1.001, 1.002], [1.03, 1.031, 1.032], [0.98, 0.981, 0.982]]
    >>> b = [[1.05, 1.051, 1.052], [1.045, 1.046, 1.047], [1.04, 1.041, 1.042]]
    >>> compare_samples(sum(a, []), sum(b, []), threshold=0.01).verdict
    'slower'
    >>> compare_measurements(a, b, threshold=0.01).verdict
    'inconclusive'
    >>> compare_measurements(a, [[1.40, 1.401], [1.42, 1.421], [1.39, 1.391]]).verdict
    'slower'
    >>> compare_measurements(a, [[1.5, 1.5], [1.0, 1.0], [1.6, 1.6]]).verdict
    'inconclusive'
    """
    groups_a = [list(r) for r in rounds_a if len(r)]
    groups_b = [list(r) for r in rounds_b if len(r)]
    if len(groups_a) < 2 or len(groups_b) < 2:
        flat = compare_samples(sum(groups_a, []), sum(groups_b, []), threshold=threshold,
                               alpha=alpha)  # fmt: skip
        return replace(flat, rounds_a=len(groups_a), rounds_b=len(groups_b))
    result = compare_rounds(groups_a, groups_b, between_sd=between_sd)
    if not is_beyond_threshold(result.ratio, threshold):
        verdict = SAME
    elif result.p_value < alpha:
        verdict = SLOWER if result.ratio > 1.0 else FASTER
    else:
        verdict = INCONCLUSIVE
    return SampleComparison(
        count_a=sum(len(r) for r in groups_a),
        count_b=sum(len(r) for r in groups_b),
        median_a=result.median_a,
        median_b=result.median_b,
        ratio=result.ratio,
        ratio_low=result.ratio_low,
        ratio_high=result.ratio_high,
        p_value=result.p_value,
        min_p_value=0.0,
        verdict=verdict,
        alpha=alpha,
        method=ROUNDS,
        rounds_a=result.rounds_a,
        rounds_b=result.rounds_b,
    )
