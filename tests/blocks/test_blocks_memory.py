"""The closed-form memory estimate, checked with literal numbers."""

from blocks.memory import dtype_bytes, estimate


def dense(units, batch=8, pass_="train", policy="float32", *, params, trainable):
    return estimate(
        "dense", (32,), batch_size=batch, pass_=pass_, params=params, trainable=trainable,
        num_classes=10, dtype_policy=policy, units=units,
    )  # fmt: skip


def conv(pass_):
    return estimate(
        "conv", (8, 8, 1), batch_size=2, pass_=pass_, params=0, trainable=0, num_classes=10,
        depth=2, filters=4,
    )  # fmt: skip


def test_train_parts_of_a_dense_cell():
    # dense units=64 on 32 features + BN: 32*64+64 + 4*64 = 2432 params, 128 non-trainable;
    # head Dense(10) on 64 features: 650. Activations per sample: input 32, Dense 64, BN 64,
    # logits 10 = 170.
    parts = dense(64, params=3082, trainable=2954)
    assert parts == {
        "weights": 3082 * 4,
        "gradients": 2954 * 4,
        "optimizer": 2 * 2954 * 4,
        "activations": 170 * 8 * 4,
        "inputs": 2 * 8 * (32 * 4 + 4),
    }


def test_forward_has_no_gradients_or_optimizer():
    parts = dense(64, pass_="forward", params=3082, trainable=2954)
    assert set(parts) == {"weights", "activations", "inputs"}


def test_forward_counts_one_stage_of_a_deep_block():
    # conv filters=4, depth=2 on 8x8x1: stage 1 keeps conv 8x8x4, BN 8x8x4, pool 4x4x4 = 576;
    # stage 2 keeps 4x4x4 twice and 2x2x4 = 144. Pooled head: 4 features + 10 logits.
    forward = conv("forward")["activations"]
    assert forward == (64 + 576 + 14) * 2 * 4
    train = conv("train")
    assert train["activations"] == (64 + 576 + 144 + 14) * 2 * 4


def test_estimate_grows_with_capacity_and_batch():
    small = sum(dense(64, params=3082, trainable=2954).values())
    wide = sum(dense(1024, params=47114, trainable=45066).values())
    big_batch = sum(dense(64, batch=256, params=3082, trainable=2954).values())
    assert small < wide and small < big_batch


def test_dtype_policies():
    assert dtype_bytes("float32") == (4, 4)
    assert dtype_bytes("mixed_float16") == (4, 2)
    assert dtype_bytes("bfloat16") == (2, 2)
    half = dense(64, policy="mixed_bfloat16", params=3082, trainable=2954)
    assert half["weights"] == 3082 * 4 and half["activations"] == 170 * 8 * 2
