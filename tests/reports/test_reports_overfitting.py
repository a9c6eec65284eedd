"""Model-wise curves: threshold, peak, its CI and the generated sentence, on literal data."""

from reports.overfitting import Point, analyse, sentence


def point(params, final, early=None, train=0.0, interpolated=True):
    early = early if early is not None else final
    return Point(params, final, early, [train] * len(final), [interpolated] * len(final))


def test_threshold_is_the_smallest_interpolating_capacity():
    curve = analyse(
        [
            point(10, [0.5, 0.5], train=0.3, interpolated=False),
            point(100, [0.3, 0.3], train=0.1, interpolated=False),
            point(1000, [0.4, 0.4]),
            point(5000, [0.2, 0.2]),
        ],
        train_size=1000,
    )
    assert curve.threshold == 1000 and curve.peak == 1000 and curve.best_smaller == 100
    assert round(curve.ratio, 6) == round(0.4 / 0.3, 6)


def test_one_seed_missing_interpolation_moves_the_threshold():
    mixed = Point(1000, [0.4, 0.4], [0.4, 0.4], [0.0, 0.05], [True, False])
    curve = analyse(
        [point(100, [0.3], interpolated=False), mixed, point(5000, [0.2])], train_size=1
    )
    assert curve.threshold == 5000


def test_peak_may_sit_beyond_the_threshold():
    curve = analyse(
        [point(10, [0.3, 0.31], interpolated=False), point(100, [0.35, 0.36]),
         point(1000, [0.45, 0.46]), point(10000, [0.2, 0.21])],
        train_size=100,
    )  # fmt: skip
    assert (curve.threshold, curve.peak, curve.best_smaller) == (100, 1000, 10)
    low, high = curve.ci
    assert 1 < low <= curve.ratio <= high


def test_sentence_rise_and_fall():
    curve = analyse(
        [point(100, [0.30, 0.32], interpolated=False), point(1000, [0.40, 0.42]),
         point(10000, [0.20, 0.22], early=[0.15, 0.17])],
        train_size=1000,
    )  # fmt: skip
    text = sentence(curve)
    assert "rises to 0.41 at 1,000 params (1.32x" in text
    assert "comes down again to 0.21 at 10,000 params (-0.20)" in text
    assert text.endswith("Early-stopped test error at the same widths: 0.31, 0.41, 0.16.")


def test_sentence_without_interpolation_draws_no_conclusion():
    curve = analyse(
        [point(100, [0.3], train=0.2, interpolated=False),
         point(1000, [0.25], train=0.1, interpolated=False)],
        train_size=1000,
    )  # fmt: skip
    assert curve.threshold is None and curve.peak is None
    text = sentence(curve)
    assert text.startswith("Training did not reach interpolation")
    assert "lowest train error 0.10 at 1,000 params" in text and "No conclusion" in text


def test_sentence_monotone_curve_does_not_rise():
    curve = analyse(
        [point(100, [0.3, 0.31], interpolated=False), point(1000, [0.2, 0.21]),
         point(10000, [0.1, 0.11])],
        train_size=1000,
    )  # fmt: skip
    assert "does not rise again" in sentence(curve)


def test_overlapping_seeds_are_inconclusive():
    curve = analyse(
        [point(100, [0.2, 0.4], interpolated=False), point(1000, [0.25, 0.45])],
        train_size=1000,
    )
    assert "inconclusive" in sentence(curve)
