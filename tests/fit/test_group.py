"""The stacked (member-axis) training of a fit configuration's seeds against the
single-seed loop: same initial weights, same curves, independent members."""

import numpy as np
import pytest

from bench.data import datasets
from bench.fit import group, train
from bench.spec.cell import Cell, FitSettings


def seed_cells(seeds=(0, 1, 2), block="dense", knobs=(("units", 8),), **fit):
    shape = datasets.input_shape("digits", block)
    settings = {"epochs": 3, "label_noise": 0.2, **fit}
    return [
        Cell(block, knobs, shape, 64, "fit", fit=FitSettings("digits", seed=s, **settings))
        for s in seeds
    ]


@pytest.fixture(scope="module")
def stacked():
    cells = seed_cells()
    return cells, group.run_fit_group(cells)


def test_members_start_from_build_model_weights():
    cells = seed_cells()
    split = train.prepare(cells[0])
    models = group.member_models(cells, split)
    layers = group.stack_layers(models)
    stacked = [w.numpy() for layer in layers for w in layer.weights]
    for m, model in enumerate(group.member_models(cells, split)):  # rebuilt: same seeds
        own = [w.numpy() for w in model.weights]
        assert len(own) == len(stacked)
        for mine, theirs in zip(own, stacked, strict=True):
            np.testing.assert_array_equal(mine, theirs[m])
    assert not np.array_equal(stacked[0][0], stacked[0][1])  # seeds differ


def test_each_member_matches_its_single_seed_run(stacked):
    cells, results = stacked
    assert [r.epochs_run for r in results] == [3, 3, 3]
    for cell, result in zip(cells, results, strict=True):
        single = train.run_fit_cell(cell)
        assert result.params == single.params
        assert result.curves["epoch"] == single.curves["epoch"]
        for name in train.EPOCH_COLUMNS:
            assert result.curves[name] == pytest.approx(single.curves[name], abs=2e-3), name
    # far closer than the seed-to-seed spread
    losses = np.array([r.curves["train_loss"] for r in results])
    assert np.ptp(losses[:, -1]) > 0.02


def test_members_are_independent(stacked):
    """Member 1 trained alone (a group of one other seed) gives the same curve."""
    cells, results = stacked
    pair = group.run_fit_group([cells[1], seed_cells(seeds=(5,))[0]])
    for name in train.EPOCH_COLUMNS:
        assert pair[0].curves[name] == pytest.approx(results[1].curves[name], abs=1e-5)


def test_same_seeds_same_curves(stacked):
    cells, results = stacked
    again = group.run_fit_group(cells)
    for first, second in zip(results, again, strict=True):
        for name, values in first.curves.items():
            assert second.curves[name] == pytest.approx(values, abs=1e-6), name


def test_an_epoch_as_one_xla_program_gives_the_graph_loops_curves():
    """The fast path (each epoch one XLA program, minibatches unrolled) against the graph
    loop around a compiled step: the same shuffles, the same curves up to float rounding;
    and the fast path is the one run_fit_group takes."""
    cells = seed_cells(seeds=(0, 1))
    splits = [train.prepare(cell) for cell in cells]
    _, fast, _, _ = group.train_members(cells, splits, jit_loop=True)
    _, graph, _, _ = group.train_members(cells, splits, jit_loop=False)
    assert fast.shape == graph.shape == (3, 2, len(train.EPOCH_COLUMNS))
    np.testing.assert_allclose(fast, graph, atol=2e-3)
    assert group.JIT_LOOP


def test_members_stop_on_their_own():
    cells = seed_cells(
        seeds=(0, 1), knobs=(("units", 64),), until="interpolation", epsilon=0.3, epochs=40
    )
    results = group.run_fit_group(cells)
    for result in results:
        assert result.stopped == "interpolation"
        assert result.interpolation_epoch == result.epochs_run < 40
        assert result.curves["train_error_noisy"][-1] <= 0.3


def test_other_blocks_fall_back_to_single_seed_runs():
    cells = seed_cells(seeds=(0, 1), block="recurrent", knobs=(("units", 4),), epochs=1)
    assert not group.groupable(cells)
    results = group.run_fit_group(cells)
    assert [r.epochs_run for r in results] == [1, 1]


def test_bad_settings_refused_before_training():
    cells = seed_cells(seeds=(0, 1), until="forever")
    with pytest.raises(ValueError, match="until"):
        group.run_fit_group(cells)
