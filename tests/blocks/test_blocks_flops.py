"""`cost.flops`: the matmul part agrees with XLA's HLO within 2%; literal elementwise values.

The independent count lowers the block's forward pass (batch 1, inference) with XLA and
counts ``dot`` and ``convolution`` instructions (`tests/blocks/hlo_count.py`); recurrent layers are
unrolled for the count so that every timestep's matmuls appear.
"""

import keras
import pytest
import tensorflow as tf

from blocks import BLOCKS, build, cost
from tests.blocks.hlo_count import hlo_matmul_flops, xla_matmul_flops

TOLERANCE = 0.02

CASES = [
    (name, shape, knobs) for name, spec in BLOCKS.items() for shape, knobs in spec.small_cases()
] + [
    ("conv", (28, 28, 1), {"filters": 32, "depth": 2}),
    ("conv", (9, 7, 3), {"filters": 4, "kernel_size": (3, 5), "batch_norm": False}),
    ("recurrent", (12, 5), {"units": 8, "cell": "lstm", "depth": 2}),
    ("recurrent", (12, 5), {"units": 8, "cell": "gru", "return_sequences": False}),
    ("recurrent", (12, 5), {"units": 8, "cell": "simple_rnn", "depth": 2, "dropout": 0.0}),
    ("dense", (10,), {"units": [128, 64, 32]}),
    ("residual", (8, 8, 3), {"filters": 8, "depth": 2}),
    ("transformer", (10, 12), {"units": 16, "heads": 4, "depth": 2}),
    ("transformer", (7, 16), {"units": 16, "heads": 2, "ff_units": 24, "dropout": 0.1}),
]
IDS = [f"{name}-{index}" for index, (name, _, _) in enumerate(CASES)]


def unrolled(layer):
    """Make every Keras RNN inside ``layer`` unroll, so XLA sees each timestep's matmuls."""
    for sublayer in layer._flatten_layers():
        if isinstance(sublayer, keras.layers.RNN):
            sublayer.unroll = True
    return layer


@pytest.mark.parametrize(("name", "shape", "knobs"), CASES, ids=IDS)
def test_matmul_flops_agree_with_xla(name, shape, knobs):
    layer = build(name, **knobs)
    x = tf.random.uniform((1, *shape))
    layer(x)
    counted = xla_matmul_flops(lambda t: unrolled(layer)(t, training=False), x)
    closed = cost.flops(name, shape, **knobs)
    assert counted > 0
    assert abs(closed.matmul - counted) <= TOLERANCE * counted, (closed.matmul, counted)
    assert closed.total == closed.matmul + closed.elementwise
    assert closed.elementwise > 0


@pytest.mark.parametrize(
    ("name", "shape", "knobs", "matmul", "elementwise"),
    [
        # 2*10*32; 32 * (bias + relu + 4 for BatchNormalization)
        ("dense", (10,), {"units": 32}, 640, 192),
        # 2*4*4*2*9*1; conv 32*(bias+relu+4 BN) + pool 8*3
        ("conv", (4, 4, 1), {"filters": 2}, 576, 32 * 6 + 8 * 3),
        # per step 2*4*4*(3+4) and 17*4, 2 steps; dropout 2*4
        ("recurrent", (2, 3), {"units": 4}, 448, 136 + 8),
        ("recurrent", (2, 3), {"units": 4, "cell": "gru", "dropout": 0.0}, 336, 136),
        ("recurrent", (2, 3), {"units": 4, "cell": "simple_rnn", "dropout": 0.0}, 112, 24),
        # T=2, u=4, H=2, f=16: 8*T*u*u + 4*T*T*u + 4*T*u*f; 22*T*u + 2*T*f + 5*H*T*T
        ("transformer", (2, 4), {"units": 4, "heads": 2}, 256 + 64 + 512, 176 + 64 + 40),
    ],
)
def test_flops_literal_values(name, shape, knobs, matmul, elementwise):
    counted = cost.flops(name, shape, **knobs)
    assert (counted.matmul, counted.elementwise) == (matmul, elementwise)


def test_hlo_counter_on_literal_instructions():
    dot = (
        "%Einsum.4 = f32[1,2,5,5]{3,2,1,0} dot(f32[1,5,2,2]{3,2,1,0} %Add.9, "
        "f32[1,5,2,2]{3,2,1,0} %Add.7), lhs_batch_dims={0,2}, lhs_contracting_dims={3}, "
        "rhs_batch_dims={0,2}, rhs_contracting_dims={3}"
    )
    conv = (
        "%convolution.1 = f32[1,6,6,4]{3,2,1,0} convolution(f32[1,6,6,2]{3,2,1,0} %x, "
        "f32[3,3,2,4]{3,2,1,0} %k), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f"
    )
    assert hlo_matmul_flops(dot) == 2 * 50 * 2
    assert hlo_matmul_flops(conv) == 2 * 144 * 18
    assert hlo_matmul_flops(dot + "\n" + conv + "\n%add = f32[2] add(f32[2] %a, f32[2] %b)") == (
        200 + 5184
    )
