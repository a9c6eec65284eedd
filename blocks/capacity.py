"""The capacity table: parameters and forward FLOPs of each block at a few capacities,
and of the seed's example models, from the closed forms in ``blocks.cost``.

>>> "| conv " in capacity_table()
True
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

# (block, input shape, knob variations): the shapes echo the seed's examples.
CAPACITIES: tuple[tuple[str, tuple[int, ...], tuple[dict[str, Any], ...]], ...] = (
    ("conv", (28, 28, 1), ({"filters": 16}, {"filters": 32}, {"filters": 64},
                           {"filters": 32, "depth": 2})),
    ("residual", (16, 16, 16), ({"filters": 16}, {"filters": 32}, {"filters": 32, "depth": 2})),
    ("recurrent", (100, 5), ({"units": 16}, {"units": 32}, {"units": 64},
                             {"units": 32, "cell": "gru"}, {"units": 32, "cell": "simple_rnn"})),
    ("dense", (10,), ({"units": 32}, {"units": 128}, {"units": 128, "depth": 3},
                      {"units": [128, 64, 32]})),
    ("transformer", (16, 64), ({"units": 64, "heads": 4}, {"units": 64, "heads": 4, "depth": 2},
                               {"units": 128, "heads": 8})),
)  # fmt: skip


def capacity_rows() -> list[dict[str, Any]]:
    """One row per (block, capacity): knobs, params (trainable/non-trainable) and FLOPs.

    >>> row = capacity_rows()[0]
    >>> row["block"], row["knobs"], row["params"], row["output"]
    ('conv', 'filters=16', 224, '14x14x16')
    """
    from blocks import cost
    from blocks.registry import output_shape

    rows = []
    for name, shape, variations in CAPACITIES:
        for knobs in variations:
            params = cost.params(name, shape, **knobs)
            flops = cost.flops(name, shape, **knobs)
            rows.append(
                {
                    "block": name,
                    "knobs": " ".join(f"{k}={v}" for k, v in knobs.items()),
                    "input": "x".join(map(str, shape)),
                    "output": "x".join(map(str, output_shape(name, shape, **knobs))),
                    "params": params.total,
                    "trainable": params.trainable,
                    "non-trainable": params.non_trainable,
                    "FLOPs/sample": int(getattr(flops, "total", flops)),
                }
            )
    return rows


def seed_rows() -> list[dict[str, Any]]:
    """The seed's example models, counted by Keras itself.

    >>> [row["params"] for row in seed_rows()]
    [5386, 5386, 31137, 16321]
    """
    from blocks import seed

    builders = {
        "seed example 1 (conv, as written)": seed.conv_example,
        "seed example 1 (conv, corrected)": seed.conv_example_corrected,
        "seed example 2 (recurrent)": seed.recurrent_example,
        "seed example 3 (dense)": seed.dense_example,
    }
    rows = []
    for label, build in builders.items():
        model = build()
        trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
        rows.append(
            {
                "model": label,
                "output": "x".join(str(d) for d in model.output_shape[1:]),
                "params": model.count_params(),
                "trainable": trainable,
                "non-trainable": model.count_params() - trainable,
            }
        )
    return rows


def capacity_table() -> str:
    """Both tables as GitHub markdown.

    >>> capacity_table().splitlines()[0]
    '## Blocks'
    """
    blocks_table = tabulate(capacity_rows(), headers="keys", tablefmt="github", intfmt=",")
    seed_table = tabulate(seed_rows(), headers="keys", tablefmt="github", intfmt=",")
    return f"## Blocks\n\n{blocks_table}\n\n## Seed models\n\n{seed_table}\n"
