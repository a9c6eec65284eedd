"""Power-law fits on synthetic data with a known exponent."""

import numpy as np
import pytest

from reports.scaling import fit_power_law


def test_recovers_known_exponent_from_noisy_data() -> None:
    rng = np.random.default_rng(42)
    params = np.geomspace(1e3, 1e7, 12)
    times = 2e-7 * params**0.8 * np.exp(rng.normal(0.0, 0.03, params.size))
    law = fit_power_law(params, times)
    assert law.n == 12
    assert law.b == pytest.approx(0.8, abs=0.03)
    assert law.b_low < 0.8 < law.b_high
    assert law.b_high - law.b_low < 0.1
    assert law.r2 > 0.99
    assert law.a == pytest.approx(2e-7, rel=0.5)


def test_exact_power_law_has_zero_width_interval() -> None:
    law = fit_power_law([1, 2, 4, 8], [3, 12, 48, 192])
    assert (law.a, law.b, law.r2) == pytest.approx((3.0, 2.0, 1.0))
    assert law.b_low == pytest.approx(2.0)
    assert law.b_high == pytest.approx(2.0)
    assert float(law.predict(16.0)) == pytest.approx(768.0)


def test_interval_uses_t_distribution_on_three_points() -> None:
    # log-log points (0, 0), (1, 1), (2, 1.5) in base e: slope 0.75, residual sd known.
    x = np.exp([0.0, 1.0, 2.0])
    y = np.exp([0.0, 1.0, 1.5])
    law = fit_power_law(x, y)
    residuals = np.array([0.0, 1.0, 1.5]) - (law.b * np.array([0.0, 1.0, 2.0]) + np.log(law.a))
    stderr = np.sqrt((residuals**2).sum() / 1 / 2.0)
    assert law.b == pytest.approx(0.75)
    assert law.b_high - law.b == pytest.approx(12.7062047 * stderr, rel=1e-6)  # t(0.975, 1)


@pytest.mark.parametrize(
    ("x", "y"),
    [([1, 2], [1, 2]), ([1, 2, 0], [1, 2, 3]), ([5, 5, 5], [1, 2, 3]), ([1, 2, 3], [1, -1, 2])],
)
def test_rejects_unfittable_points(x: list[float], y: list[float]) -> None:
    with pytest.raises(ValueError):
        fit_power_law(x, y)
