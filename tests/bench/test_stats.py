import pytest

from bench.results.stats import Stats, quartiles


def test_stats_on_literal_samples():
    stats = Stats.from_samples([4, 36, 45, 50, 75])
    assert stats.count == 5
    assert stats.mean == 42.0
    assert stats.median == 45.0
    assert stats.min == 4.0
    assert stats.max == 75.0
    assert stats.iqr == 14.0  # q1 = 36, q3 = 50
    assert stats.stddev == pytest.approx(25.7001946)  # sqrt(2642 / 4)


def test_quartiles_interpolate_like_numpy():
    assert quartiles([1, 2, 3, 4]) == (1.75, 3.25)
    assert quartiles([7]) == (7.0, 7.0)


def test_noise_flag_above_ten_percent_iqr_over_median():
    assert not Stats.from_samples([1.0, 1.0, 1.04, 1.05, 1.05]).noisy
    noisy = Stats.from_samples([1.0, 1.2, 1.3, 1.5, 2.0])
    assert noisy.relative_iqr == pytest.approx(0.3 / 1.3)
    assert noisy.noisy


def test_single_sample_has_zero_spread_and_empty_raises():
    assert Stats.from_samples([2.5]).stddev == 0.0
    with pytest.raises(ValueError, match="no samples"):
        Stats.from_samples([])
