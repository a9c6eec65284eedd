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
