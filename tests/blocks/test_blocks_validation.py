"""Every bad input raises `ValueError` naming the problem, before any weights exist."""

import numpy as np
import pytest

from blocks import BLOCKS, build, cost, output_shape, validate
from blocks.compose import parallel

KNOWN = "known blocks: conv, dense, recurrent, residual, transformer"


def test_unknown_block_lists_known_names():
    with pytest.raises(ValueError, match=f"unknown block 'nope'; {KNOWN}"):
        validate("nope")
    with pytest.raises(ValueError, match="unknown block 'nope'"):
        build("nope")
    with pytest.raises(ValueError, match="unknown block 'nope'"):
        cost.params("nope", (3,))


def test_unknown_knob_names_it_and_the_valid_ones():
    message = (
        "unknown knob 'filter' for block 'conv'; "
        "valid knobs: filters, kernel_size, depth, batch_norm, pool"
    )
    with pytest.raises(ValueError, match=message):
        validate("conv", filters=8, filter=8)
    with pytest.raises(ValueError, match="unknown knob 'cells' for block 'recurrent'"):
        build("recurrent", units=4, cells="gru")


def test_missing_required_knob():
    with pytest.raises(ValueError, match="block 'conv' needs knob 'filters'"):
        validate("conv", depth=2)
    with pytest.raises(ValueError, match="block 'transformer' needs knob 'units'"):
        build("transformer")


@pytest.mark.parametrize(
    ("name", "knobs", "message"),
    [
        ("conv", {"filters": 0}, "knob 'filters' must be a positive int, got 0"),
        ("conv", {"filters": 2.5}, "knob 'filters' must be a positive int, got 2.5"),
        ("conv", {"filters": 2, "depth": True}, "knob 'depth' must be a positive int, got True"),
        ("conv", {"filters": 2, "kernel_size": (3,)}, "knob 'kernel_size' must be a positive int"),
        ("conv", {"filters": 2, "pool": "yes"}, "knob 'pool' must be True or False, got 'yes'"),
        (
            "recurrent",
            {"units": 4, "cell": "foo"},
            "knob 'cell' must be one of lstm, gru, simple_rnn; got 'foo'",
        ),
        ("recurrent", {"units": 4, "dropout": 1.0}, r"knob 'dropout' must be a rate in \[0, 1\)"),
        ("recurrent", {"units": -1}, "knob 'units' must be a positive int, got -1"),
        ("dense", {"units": []}, "knob 'units' is an empty list of widths"),
        ("dense", {"units": [4, 0]}, "knob 'units' must be a positive int, got 0"),
        (
            "dense",
            {"units": [64, 32], "depth": 2},
            r"a list of widths with depth too: "
            r"units=\[64, 32\] already sets 2 layer\(s\); drop depth=2",
        ),
        ("dense", {"units": [64, 32], "depth": 1}, "a list of widths with depth too"),
        ("residual", {"filters": 4, "depth": 0}, "knob 'depth' must be a positive int, got 0"),
        ("transformer", {"units": 4, "heads": 3}, r"heads=3 does not divide units=4"),
        ("transformer", {"units": 2}, r"heads=4 does not divide units=2"),
        ("transformer", {"units": 4, "ff_units": 0}, "knob 'ff_units' must be a positive int"),
    ],
)
def test_bad_knob_values(name, knobs, message):
    with pytest.raises(ValueError, match=message):
        validate(name, **knobs)
    with pytest.raises(ValueError, match=message):
        build(name, **knobs)
    with pytest.raises(ValueError, match=message):
        cost.flops(name, BLOCKS[name].small_inputs[0], **knobs)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_wrong_input_rank_says_expected_rank(name):
    spec = BLOCKS[name]
    shape, knobs = spec.small_cases()[0]
    bad = (*shape, 2)
    message = (
        rf"block '{name}' expects an input of rank {spec.input_rank} .* without the batch "
        rf"axis; got input_shape \({', '.join(map(str, bad))}\) of rank {len(bad)}"
    )
    for function in (validate, output_shape, cost.params, cost.flops, cost.activations):
        with pytest.raises(ValueError, match=message):
            function(name, bad, **knobs)


def test_non_positive_dimension():
    with pytest.raises(ValueError, match="input dimensions must be positive ints or None"):
        validate("dense", (0,), units=3)


def test_pooling_below_one_pixel_says_why_and_the_limit():
    message = (
        r"block 'conv': pooling below one pixel: input \(4, 4, 1\) is 1 pixel\(s\) along one "
        r"side after 2 pooling\(s\) and cannot be halved again; depth=3 needs depth <= 2"
    )
    with pytest.raises(ValueError, match=message):
        validate("conv", (4, 4, 1), filters=2, depth=3)
    with pytest.raises(ValueError, match="pooling below one pixel"):
        cost.params("conv", (1, 8, 3), filters=2)
    assert validate("conv", (4, 4, 1), filters=2, depth=3, pool=False)["depth"] == 3


def test_cost_needs_known_dimensions():
    assert output_shape("recurrent", (None, 4), units=3) == (None, 3)
    with pytest.raises(ValueError, match="needs every input dimension known"):
        cost.params("recurrent", (None, 4), units=3)


def test_layer_rejects_bad_input_before_making_weights():
    layer = build("conv", filters=2, depth=3)
    with pytest.raises(ValueError, match="pooling below one pixel"):
        layer(np.zeros((1, 4, 4, 1), "float32"))
    assert not layer.weights
    recurrent = build("recurrent", units=2)
    with pytest.raises(ValueError, match="expects an input of rank 2"):
        recurrent(np.zeros((1, 3, 3, 3), "float32"))
    assert not recurrent.weights


def test_from_config_validates_too():
    layer = build("dense", units=[4, 2])
    config = {**layer.get_config(), "depth": 3}
    with pytest.raises(ValueError, match="a list of widths with depth too"):
        type(layer)(**config)
    # Keras's `from_config` re-raises constructor errors as TypeError, message kept.
    with pytest.raises(TypeError, match="a list of widths with depth too"):
        type(layer).from_config(config)


def test_parallel_rejects_unknown_merge_and_unequal_shapes():
    import keras

    x = keras.Input(shape=(6,))
    with pytest.raises(ValueError, match="unknown merge 'sum'; valid merges: concat, average, add"):
        parallel(x, [build("dense", units=3), build("dense", units=3)], merge="sum")
    with pytest.raises(ValueError, match="merge 'add' needs branches of equal shape"):
        parallel(x, [build("dense", units=3), build("dense", units=4)], merge="add")
