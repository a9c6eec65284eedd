"""Blocks round-trip through `get_config`/`from_config` and a `.keras` file."""

import keras
import numpy as np
import pytest

from blocks import BLOCKS, build

CASES = [
    (name, shape, knobs) for name, spec in BLOCKS.items() for shape, knobs in spec.small_cases()
]
IDS = [f"{name}-{index}" for index, (name, _, _) in enumerate(CASES)]


@pytest.mark.parametrize(("name", "shape", "knobs"), CASES, ids=IDS)
def test_get_config_from_config_round_trip(name, shape, knobs):
    layer = build(name, **knobs)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert clone is not layer
    clone.build((None, *shape))
    layer.build((None, *shape))
    assert clone.count_params() == layer.count_params()
    assert not {id(v) for v in clone.weights} & {id(v) for v in layer.weights}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_keras_file_round_trip_gives_identical_outputs(name, tmp_path):
    rng = np.random.default_rng(0)
    cases = BLOCKS[name].small_cases()
    for shape, knobs in (cases[0], cases[-1]):
        inputs = keras.Input(shape=shape)
        model = keras.Model(inputs, build(name, **knobs)(inputs))
        for variable in model.weights:  # non-trivial values, variances kept positive
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        x = rng.random((3, *shape), dtype=np.float32)
        np.testing.assert_array_equal(
            np.array(model(x, training=False)), np.array(loaded(x, training=False))
        )
        assert type(loaded.layers[-1]) is BLOCKS[name].layer
        assert loaded.layers[-1].get_config() == model.layers[-1].get_config()
