"""Power laws ``y ≈ a·x^b`` fitted by least squares in log-log space.

The exponent's 95% confidence interval uses the t-distribution with ``n - 2`` degrees of
freedom on the slope's standard error; R² is that of the log-log fit.

>>> law = fit_power_law([1, 2, 4, 8], [3, 12, 48, 192])
>>> round(law.a, 6), round(law.b, 6), round(law.r2, 6), law.n
(3.0, 2.0, 1.0, 4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

CONFIDENCE = 0.95


@dataclass(frozen=True)
class PowerLaw:
    """``y ≈ a·x^b`` with the exponent's 95% interval ``[b_low, b_high]``, R² and point count."""

    a: float
    b: float
    b_low: float
    b_high: float
    r2: float
    n: int

    def predict(self, x: float | np.ndarray) -> float | np.ndarray:
        """``a·x^b``.

        >>> float(PowerLaw(a=2.0, b=0.5, b_low=0.4, b_high=0.6, r2=1.0, n=3).predict(16.0))
        8.0
        """
        return self.a * np.power(x, self.b)


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """Fit ``y ≈ a·x^b`` by ordinary least squares on ``log y = log a + b·log x``.

    Needs at least three points, all positive, with at least two distinct ``x``; raises
    ``ValueError`` otherwise.

    >>> round(fit_power_law([10, 100, 1000], [1.0, 10.0, 100.0]).b, 9)
    1.0
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError("x and y must be 1-D sequences of equal length")
    if len(xs) < 3:
        raise ValueError(f"a power-law fit needs at least 3 points, got {len(xs)}")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise ValueError("x and y must be finite")
    if np.any(xs <= 0) or np.any(ys <= 0):
        raise ValueError("a power-law fit needs positive x and y")
    log_x, log_y = np.log(xs), np.log(ys)
    centred = log_x - log_x.mean()
    sxx = float(centred @ centred)
    if sxx <= 1e-24 * max(1.0, float(log_x @ log_x)):
        raise ValueError("a power-law fit needs at least two distinct x values")
    slope = float(centred @ (log_y - log_y.mean())) / sxx
    intercept = float(log_y.mean() - slope * log_x.mean())
    residuals = log_y - (intercept + slope * log_x)
    ss_res = float(residuals @ residuals)
    ss_tot = float(((log_y - log_y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    dof = len(xs) - 2
    stderr = math.sqrt(ss_res / dof / sxx) if dof > 0 else math.inf
    half_width = float(stdtrit(dof, 0.5 + CONFIDENCE / 2)) * stderr
    return PowerLaw(
        a=math.exp(intercept),
        b=slope,
        b_low=slope - half_width,
        b_high=slope + half_width,
        r2=r2,
        n=len(xs),
    )


@dataclass(frozen=True)
class OverheadLaw:
    """``time ≈ overhead + flops / throughput``, fitted to one family's capacities.

    ``overhead_s`` is the fixed cost of a step (dispatch, kernel launches, small ops that
    do not grow with capacity), ``throughput`` the FLOP/s the step achieves at large
    capacity, ``crossover_flops`` the FLOPs per step at which compute time equals the
    overhead (beyond it, compute dominates). Each comes with its 95% interval; ``None``
    where the interval has no finite bound (a slope indistinguishable from zero).
    """

    overhead_s: float
    overhead_low: float
    overhead_high: float
    throughput: float
    throughput_low: float | None
    throughput_high: float | None
    crossover_flops: float
    crossover_low: float | None
    crossover_high: float | None
    r2: float
    n: int

    @property
    def conclusive(self) -> bool:
        """Whether every interval is narrower than its estimate (half-width < estimate)."""
        if self.overhead_s <= 0 or self.throughput_low is None or self.throughput_high is None:
            return False
        widths = (
            (self.overhead_high - self.overhead_low) / 2 / self.overhead_s,
            (self.throughput_high - self.throughput_low) / 2 / self.throughput,
        )
        return all(w < 1 for w in widths)

    @property
    def throughput_precision(self) -> float | None:
        """Half the throughput interval's width relative to the estimate."""
        if self.throughput_low is None or self.throughput_high is None:
            return None
        return (self.throughput_high - self.throughput_low) / 2 / self.throughput


def fit_overhead_law(flops: Sequence[float], seconds: Sequence[float]) -> OverheadLaw:
    """Weighted least squares of ``seconds = a + b·flops`` with weights ``1/seconds²``
    (timing noise is relative, so a 1 ms step should not outvote a 10 µs one), 95%
    t-intervals on ``n − 2`` degrees of freedom; throughput is ``1/b`` and its interval
    the inverted interval of ``b``; the crossover ``a/b`` gets a delta-method interval.

    >>> law = fit_overhead_law([1e6, 1e7, 1e8, 1e9], [1.1e-4, 2e-4, 1.1e-3, 1.01e-2])
    >>> round(law.overhead_s * 1e6), round(law.throughput / 1e9), round(law.crossover_flops)
    (100, 100, 10000000)
    >>> law.conclusive
    True
    """
    x = np.asarray(flops, dtype=float)
    y = np.asarray(seconds, dtype=float)
    n = x.size
    if n < 3 or np.unique(x).size < 2:
        raise ValueError("an overhead law needs at least three points with two distinct x")
    w = 1.0 / y**2
    design = np.column_stack([np.ones(n), x])
    gram = design.T @ (design * w[:, None])
    coef = np.linalg.solve(gram, design.T @ (w * y))
    residuals = y - design @ coef
    dof = n - 2
    sigma2 = float(np.sum(w * residuals**2) / dof) if dof else 0.0
    cov = sigma2 * np.linalg.inv(gram)
    t = float(stdtrit(dof, 0.975)) if dof else math.inf
    a, b = float(coef[0]), float(coef[1])
    se_a, se_b = math.sqrt(max(cov[0, 0], 0.0)), math.sqrt(max(cov[1, 1], 0.0))
    mean = np.sum(w * y) / np.sum(w)
    total = float(np.sum(w * (y - mean) ** 2))
    r2 = 1.0 - float(np.sum(w * residuals**2)) / total if total > 0 else 1.0
    b_low, b_high = b - t * se_b, b + t * se_b
    crossover = a / b if b > 0 else math.inf
    if b > 0:
        variance = cov[0, 0] / b**2 + a**2 * cov[1, 1] / b**4 - 2 * a * cov[0, 1] / b**3
        half = t * math.sqrt(max(float(variance), 0.0))
        cross_low, cross_high = crossover - half, crossover + half
    else:
        cross_low = cross_high = None
    return OverheadLaw(
        overhead_s=a,
        overhead_low=a - t * se_a,
        overhead_high=a + t * se_a,
        throughput=1.0 / b if b > 0 else math.inf,
        throughput_low=1.0 / b_high if b_high > 0 else None,
        throughput_high=1.0 / b_low if b_low > 0 else None,
        crossover_flops=crossover,
        crossover_low=cross_low if cross_low is None or cross_low > 0 else 0.0,
        crossover_high=cross_high,
        r2=r2,
        n=n,
    )
