"""Train the seeds of one fit configuration together: one model with a member axis.

The seeds of a fit configuration (cells sharing :attr:`bench.spec.cell.Cell.group_id`)
differ only in their initial weights, their shuffles and their corrupted labels, so
:func:`run_fit_group` trains them as one stacked model: every weight gets a leading
member axis (``kernel[m]`` is member ``m``'s kernel), layers are batched matmuls
(``einsum("mbi,mio->mbo")``), each member reads its own minibatches and labels, and the
loss is the *sum* of the members' mean losses, so the gradient a member sees is that of
its own loss alone. Nothing couples members: Adam's moments are elementwise (so per
member; Adam's step count is shared, and equal, since all members take the same steps),
there is no clipping, and BatchNormalization's batch statistics and moving averages are
taken per member. Members start from the exact weights :func:`build_model` gives their
cell (``keras.utils.set_random_seed(seed)`` then build), shuffle with the same stream as
the single-seed loop, and so follow the single-seed run up to float rounding.

Each member stops as the single-seed loop would (interpolation, non-finite numbers, or
the cap): its table is cut at that epoch. The stacked model goes on while any member
trains; the extra epochs of finished members are computed and dropped.

Speed: each epoch is one XLA program (`JIT_LOOP`): its minibatch steps unrolled (up
to `MAX_UNROLLED_STEPS`) and fused with the evaluation, called from a graph loop over
epochs; the shuffle stays outside it, in TensorFlow's own kernels, so every member
keeps the single-seed loop's random stream. For dense units=32 on digits (batch 64,
3 seeds, interleaved in one process) that took a seed-epoch from 3.3 ms (a graph loop
around a compiled step) to 0.56 ms, with the same curves; compiling the whole run,
epoch loop included, was slower (7.1 ms: XLA:CPU's loop codegen, as for the timing
loops). `benchmarks/fit_speed.py` measured 1.68 ms against 159 ms for ``model.fit``.

Supported: ``dense`` blocks (Dense + optional BatchNormalization; every model the dense
block builds) without XLA. Anything else falls back to :func:`run_fit_cell` per seed.

Determinism: op determinism stays off here (it roughly doubled the time per epoch and
CPU kernels used here are deterministic on one machine); seeds alone repeat a curve on
the same machine and TensorFlow build (tested), not across machines or thread counts.

>>> from bench.spec.cell import Cell, FitSettings
>>> cells = [Cell("dense", (("units", 8),), (64,), 64, "fit",
...               fit=FitSettings("digits", 2, seed=s)) for s in (0, 1)]
>>> [r.epochs_run for r in run_fit_group(cells)]  # doctest: +SKIP
[2, 2]
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from bench.data import datasets
from bench.fit import train
from bench.measure.model import build_model, make_optimizer
from bench.results.records import FitResult
from bench.spec.cell import Cell

GROUPABLE_BLOCKS = ("dense",)
JIT_STEP = True
# Each epoch (its minibatch steps and its evaluation) is one XLA program, called from a
# graph loop over epochs: XLA:CPU fuses the epoch's ops and drops TensorFlow's per-op
# dispatch (`jit_loop=False` keeps the graph loop around a compiled step).
JIT_LOOP = True
MAX_UNROLLED_STEPS = 64  # minibatches per epoch up to which an epoch is one XLA program


def groupable(cells: list[Cell]) -> bool:
    """Whether ``cells`` can train as one stacked model: fit cells of one configuration
    (one ``group_id``), a supported block, no XLA.

    >>> from bench.spec.cell import Cell, FitSettings
    >>> def cell(seed, block="dense"):
    ...     return Cell(block, (("units", 8),), (64,), 64, "fit",
    ...                 fit=FitSettings("digits", 2, seed=seed))
    >>> groupable([cell(0), cell(1)]), groupable([cell(0), cell(0)])
    (True, False)
    """
    if not cells or any(c.pass_ != "fit" or c.fit is None or c.xla for c in cells):
        return False
    if len({c.group_id for c in cells}) != 1 or len({c.fit.seed for c in cells}) != len(cells):
        return False
    return cells[0].block in GROUPABLE_BLOCKS


def run_fit_group(cells: list[Cell]) -> list[FitResult]:
    """Train the seeds ``cells`` of one fit configuration; one :class:`FitResult` per
    cell, in order. Stacked when :func:`groupable`, else one :func:`run_fit_cell` each.
    ``ValueError`` (before anything trains) for a cell :func:`run_fit_cell` would refuse.
    ``fit_wall_s`` of each result is the stacked call's wall time divided among the
    members."""
    splits = [train.prepare(cell) for cell in cells]  # validates every cell first
    if not groupable(cells) or len(cells) == 1:
        return [train.run_fit_cell(cell) for cell in cells]
    with train._op_determinism(False):
        params, table, stops, wall_s = train_members(cells, splits)
    share = wall_s / len(cells)
    return [
        train.result_of(cell, split, params, table[:stop, m], share)
        for m, (cell, split, stop) in enumerate(zip(cells, splits, stops, strict=True))
    ]


@dataclasses.dataclass
class _Layer:
    kind: str  # "dense" or "batch_norm"
    weights: list[tf.Variable]  # stacked over members
    activation: str = "linear"
    momentum: float = 0.0
    epsilon: float = 0.0


def member_models(cells: list[Cell], split: datasets.Split) -> list[keras.Model]:
    """Each cell's model exactly as the single-seed loop builds it (seeded, fresh)."""
    models = []
    for cell in cells:
        keras.backend.clear_session()
        keras.utils.set_random_seed(cell.fit.seed)
        models.append(
            build_model(cell, num_classes=split.num_classes, input_shape=split.input_shape)
        )
    return models


def stack_layers(models: list[keras.Model]) -> list[_Layer]:
    """The models' layers (Dense, BatchNormalization, in call order) as stacked
    variables; ``ValueError`` for a layer the stacked model does not implement."""
    per_model = [_flat_layers(model) for model in models]
    layers = []
    for group in zip(*per_model, strict=True):
        first = group[0]
        weights = [
            tf.Variable(np.stack([w.numpy() for w in ws]), trainable=trainable)
            for ws, trainable in zip(
                zip(*(layer.weights for layer in group), strict=True),
                [w.trainable for w in first.weights],
                strict=True,
            )
        ]
        if isinstance(first, keras.layers.Dense):
            activation = keras.activations.serialize(first.activation)
            activation = activation if isinstance(activation, str) else activation["config"]
            if activation not in ("linear", "relu") or not first.use_bias:
                raise ValueError(f"stacked Dense needs relu/linear with bias: {first.name}")
            layers.append(_Layer("dense", weights, activation=activation))
        else:
            if not (first.center and first.scale and first.axis in (-1, 1)):
                raise ValueError(f"stacked BatchNormalization needs the defaults: {first.name}")
            layers.append(
                _Layer("batch_norm", weights, momentum=first.momentum, epsilon=first.epsilon)
            )
    return layers


def _flat_layers(model: keras.Model) -> list[keras.layers.Layer]:
    found = []

    def walk(layer):
        if isinstance(layer, (keras.layers.Dense, keras.layers.BatchNormalization)):
            found.append(layer)
        elif isinstance(layer, keras.layers.InputLayer):
            return
        elif hasattr(layer, "stack"):
            for inner in layer.stack:
                walk(inner)
        else:
            raise ValueError(f"no stacked version of layer {layer.name!r} ({type(layer)})")

    for layer in model.layers:
        walk(layer)
    return found


def forward(layers: list[_Layer], x: tf.Tensor, *, training: bool) -> tf.Tensor:
    """Logits ``[members, batch, classes]`` of ``x`` (``[members, batch, features]``, or
    ``[batch, features]`` shared by every member). Training mode updates the members'
    BatchNormalization moving averages as Keras does."""
    for layer in layers:
        if layer.kind == "dense":
            kernel, bias = layer.weights
            pattern = "mbi,mio->mbo" if x.shape.rank == 3 else "bi,mio->mbo"
            x = tf.einsum(pattern, x, kernel) + bias[:, None, :]
            if layer.activation == "relu":
                x = tf.nn.relu(x)
        else:
            gamma, beta, moving_mean, moving_variance = layer.weights
            if training:
                mean, variance = tf.nn.moments(x, axes=[1], keepdims=True)
                rate = 1.0 - layer.momentum
                moving_mean.assign_sub((moving_mean - mean[:, 0, :]) * rate)
                moving_variance.assign_sub((moving_variance - variance[:, 0, :]) * rate)
            else:
                mean, variance = moving_mean[:, None, :], moving_variance[:, None, :]
            scale = gamma[:, None, :] * tf.math.rsqrt(variance + layer.epsilon)
            x = (x - mean) * scale + beta[:, None, :]
    return x


def train_members(
    cells: list[Cell], splits: list[datasets.Split], *, jit_loop: bool | None = None
) -> tuple[int, np.ndarray, list[int], float]:
    """Train the stacked model in one traced call (one XLA program when ``jit_loop``,
    default `JIT_LOOP`). Returns params per member, the table ``[epochs, members,
    len(EPOCH_COLUMNS)]``, each member's stopping epoch (its table is ``table[:stop,
    m]``) and the wall time of the call (trace and compile included)."""
    jit_loop = JIT_LOOP if jit_loop is None else jit_loop
    first, settings = splits[0], cells[0].fit
    for split in splits[1:]:
        if not (np.array_equal(split.x_train, first.x_train)):
            raise ValueError("seeds of one configuration must share the data split")
    models = member_models(cells, first)
    params = int(models[0].count_params())
    layers = stack_layers(models)
    keras.backend.clear_session()
    variables = [w for layer in layers for w in layer.weights]
    trainable = [w for w in variables if w.trainable]
    adam = make_optimizer(settings.learning_rate)
    _check_adam(adam)
    lr, beta_1, beta_2, eps = (
        float(adam.learning_rate.numpy()),
        float(adam.beta_1),
        float(adam.beta_2),
        float(adam.epsilon),
    )
    moments = [(tf.Variable(tf.zeros_like(w)), tf.Variable(tf.zeros_like(w))) for w in trainable]
    steps = tf.Variable(0.0)

    members = len(cells)
    x_train = tf.constant(first.x_train)
    x_all = tf.constant(np.concatenate([first.x_train, first.x_val, first.x_test]))
    y_noisy = tf.constant(np.stack([s.y_train for s in splits]), tf.int64)  # [m, n]
    y_clean = tf.constant(first.clean_train_labels, tf.int64)
    y_val, y_test = tf.constant(first.y_val, tf.int64), tf.constant(first.y_test, tf.int64)
    n_train, n_val = len(first.y_train), len(first.y_val)
    batch = min(cells[0].batch_size, n_train)
    full_batches, remainder = divmod(n_train, batch)
    stop_at = float(settings.epsilon) if settings.until == "interpolation" else -1.0
    seeds = tf.constant([train.SHUFFLE_SALT + c.fit.seed for c in cells], tf.int32)

    def step(take):  # take: [members, batch] indices into the training set
        x = tf.gather(x_train, take)
        y = tf.gather(y_noisy, take, batch_dims=1)
        with tf.GradientTape() as tape:
            logits = forward(layers, x, training=True)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            loss = tf.reduce_sum(tf.reduce_mean(losses, axis=1))
        grads = tape.gradient(loss, trainable)
        count = steps.assign_add(1.0)
        powers = (beta_1**count, beta_2**count)
        for w, g, (m, v) in zip(trainable, grads, moments, strict=True):
            # Keras's Adam update in one kernel: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
            # w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
            tf.raw_ops.ResourceApplyAdam(
                var=w.handle, m=m.handle, v=v.handle, beta1_power=powers[0],
                beta2_power=powers[1], lr=lr, beta1=beta_1, beta2=beta_2, epsilon=eps,
                grad=g,
            )  # fmt: skip

    # One XLA program per epoch when its minibatches can be unrolled; else the step alone
    unrolled = jit_loop and full_batches + bool(remainder) <= MAX_UNROLLED_STEPS
    if JIT_STEP and not unrolled:
        step = tf.function(step, jit_compile=True)  # the step alone, in a graph loop

    def error(logits, y):  # [m, n, c], [n] or [m, n] -> [m]
        wrong = tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int64), y)
        return tf.reduce_mean(tf.cast(wrong, tf.float32), axis=1)

    def loss_of(logits, y):
        y = tf.broadcast_to(y, tf.shape(logits)[:2])
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits), 1)

    def evaluate():  # [members, columns]
        logits = forward(layers, x_all, training=False)
        tr, va = logits[:, :n_train], logits[:, n_train : n_train + n_val]
        te = logits[:, n_train + n_val :]
        columns = [
            loss_of(tr, y_noisy),
            error(tr, y_noisy),
            error(tr, y_clean[None]),
            loss_of(va, y_val[None]),
            error(va, y_val[None]),
            loss_of(te, y_test[None]),
            error(te, y_test[None]),
        ]
        return tf.stack(columns, axis=1)

    max_epochs = int(settings.epochs)

    def shuffled(epoch):  # [members, n_train]: each member's order, as the single-seed loop
        keys = tf.map_fn(
            lambda s: tf.random.stateless_uniform([n_train], seed=tf.stack([s, epoch])),
            seeds,
            fn_output_signature=tf.float32,
        )
        return tf.argsort(keys, axis=1)

    def train_epoch(order):  # the epoch's minibatches, then the evaluation rows
        if unrolled:
            for index in range(full_batches):
                step(order[:, index * batch : (index + 1) * batch])
        else:

            def batch_body(index):
                step(order[:, index * batch : (index + 1) * batch])
                return (index + 1,)

            tf.while_loop(lambda index: index < full_batches, batch_body, (tf.constant(0),))
        if remainder:
            step(order[:, full_batches * batch :])
        return evaluate()

    # The epoch's minibatches unrolled and fused with the evaluation (the shuffle stays
    # outside, so its random stream is the single-seed loop's).
    if unrolled:
        train_epoch = tf.function(train_epoch, jit_compile=True)

    @tf.function
    def run():
        def epoch_body(epoch, stops, table):
            rows = train_epoch(shuffled(epoch))
            finite = tf.reduce_all(tf.math.is_finite(rows), axis=1)
            done = tf.logical_or(tf.logical_not(finite), rows[:, 1] <= stop_at)
            stops = tf.where(tf.logical_and(done, stops == 0), epoch + 1, stops)
            return epoch + 1, stops, tf.tensor_scatter_nd_update(table, [[epoch]], rows[None])

        table = tf.zeros([max_epochs, members, len(train.EPOCH_COLUMNS)])
        epochs, stops, table = tf.while_loop(
            lambda epoch, stops, _: tf.logical_and(epoch < max_epochs, tf.reduce_any(stops == 0)),
            epoch_body,
            (tf.constant(0), tf.zeros([members], tf.int32), table),
        )
        return epochs, stops, table

    start = time.perf_counter()
    epochs, stops, table = run()
    table = table.numpy()[: int(epochs)].astype(float)
    wall_s = time.perf_counter() - start
    stops = [int(s) if s > 0 else int(epochs) for s in stops.numpy()]
    return params, table, stops, wall_s


def _check_adam(adam: keras.optimizers.Optimizer) -> None:
    """The stacked loop implements plain Adam; refuse anything the optimizer adds."""
    extras = {
        "clipnorm": adam.clipnorm,
        "global_clipnorm": adam.global_clipnorm,
        "clipvalue": adam.clipvalue,
        "weight_decay": adam.weight_decay,
        "use_ema": adam.use_ema or None,
        "amsgrad": getattr(adam, "amsgrad", False) or None,
    }
    used = {k: v for k, v in extras.items() if v is not None}
    if used or not math.isfinite(float(adam.epsilon)):
        raise ValueError(f"stacked training implements plain Adam only, not {used}")
