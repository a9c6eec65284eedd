"""Datasets for fit cells: shipped with scikit-learn or generated, never downloaded.

Each dataset is split once, deterministically and stratified, into train / validation /
test (60 / 20 / 20, split seed ``SPLIT_SEED``, independent of any training seed), then
scaled with statistics fitted on the training part only. A block sees the view that
matches its input rank (``blocks.BLOCKS[name].input_rank``):

=============  =======  ========  =========================================  =================
dataset        classes  samples   views (rank: per-sample shape)             train/val/test
=============  =======  ========  =========================================  =================
digits         10       1,797     3: (8, 8, 1) image, 2: (8, 8) 8 rows as    1,077 / 360 / 360
                                  time steps x 8 features, 1: (64,)
breast_cancer  2        569       1: (30,) tabular                           341 / 114 / 114
sines          4        1,200     2: (32, 1) series, 1: (32,) flattened      720 / 240 / 240
=============  =======  ========  =========================================  =================

Scaling: ``digits`` and ``sines`` by one mean and standard deviation over all values
(pixels and samples share a unit, so image and series structure is kept);
``breast_cancer`` per feature (its features have unrelated units).

``sines`` (generator seed ``SINES_SEED``): each series has 32 steps,
``x(t) = a sin(2 pi f t / 32 + p) + b sin(2 pi d t / 32 + q) + noise``, where the class
is which signal frequency ``f`` in ``SINES_CYCLES`` = (2, 3, 5, 8) cycles per series is
present; ``d`` is a distractor frequency drawn from ``SINES_DISTRACTORS`` (never a class
frequency); amplitudes ``a, b ~ U(0.5, 1)``, phases ``p, q ~ U(0, 2 pi)``, noise
``N(0, 0.8)``. Classes are balanced. Random phases make the raw series linearly
inseparable (logistic regression on raw values: chance); picking the largest FFT
magnitude among the four class frequencies is right about 96% of the time.

Label corruption touches training labels only; validation and test labels stay clean, and
the split keeps the clean training labels beside the corrupted ones
(``Split.clean_train_labels``), so a fit can report train error on both.

>>> split = load("breast_cancer", rank=1)
>>> split.input_shape, split.num_classes, len(split.y_train), len(split.y_val), len(split.y_test)
((30,), 2, 341, 114, 114)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

SPLIT_SEED = 20240  # fixed: the split never depends on the training seed
VAL_FRACTION = 0.2
TEST_FRACTION = 0.2
LABEL_SALT = 0x1ABE1  # separates the label-corruption stream from other uses of the seed

SINES_SEED = 7
SINES_SAMPLES = 1200
SINES_STEPS = 32
SINES_CYCLES = (2, 3, 5, 8)
SINES_DISTRACTORS = (1, 4, 6, 7, 10, 12)
SINES_NOISE = 0.8

RANK_NAMES = {1: "vectors", 2: "sequences", 3: "images"}


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset offers: classes, samples, and one per-sample shape per input rank."""

    name: str
    kind: str
    num_classes: int
    num_samples: int
    shapes: Mapping[int, tuple[int, ...]]
    scaling: str  # "global" (one mean/std) or "per_feature"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", MappingProxyType(dict(self.shapes)))

    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(sorted(self.shapes))


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "digits", "images", 10, 1797, {3: (8, 8, 1), 2: (8, 8), 1: (64,)}, "global"
    ),
    "breast_cancer": DatasetSpec("breast_cancer", "tabular", 2, 569, {1: (30,)}, "per_feature"),
    "sines": DatasetSpec(
        "sines",
        "time series",
        len(SINES_CYCLES),
        SINES_SAMPLES,
        {2: (SINES_STEPS, 1), 1: (SINES_STEPS,)},
        "global",
    ),
}


@dataclass(frozen=True, eq=False)
class Split:
    """Train / validation / test arrays of one dataset view (float32 inputs, int labels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    y_train_clean: np.ndarray | None = None  # the training labels before corruption

    @property
    def train_size(self) -> int:
        return len(self.y_train)

    @property
    def clean_train_labels(self) -> np.ndarray:
        """The uncorrupted training labels (``y_train`` itself when nothing was corrupted).

        >>> split = load("digits", rank=1, label_noise=0.2)
        >>> round(float((split.y_train != split.clean_train_labels).mean()), 3)
        0.2
        """
        return self.y_train if self.y_train_clean is None else self.y_train_clean


def load(
    name: str,
    *,
    rank: int,
    label_noise: float = 0.0,
    random_labels: bool = False,
    seed: int = 0,
) -> Split:
    """The split of dataset ``name`` in the view for input ``rank``, labels corrupted
    as asked (training labels only, deterministic from ``seed``).

    >>> load("digits", rank=3).x_train.shape
    (1077, 8, 8, 1)
    """
    spec = spec_of(name)
    if rank not in spec.shapes:
        raise ValueError(f"dataset {name!r} has no rank-{rank} view; it offers {_ranks_text(spec)}")
    check_labels(label_noise, random_labels)
    parts = _scaled_parts(name)
    shape = spec.shapes[rank]
    x_train, y_train, x_val, y_val, x_test, y_test = (
        np.array(a.reshape((-1, *shape)) if i % 2 == 0 else a) for i, a in enumerate(parts)
    )  # copies: callers may write to them
    y_clean = y_train
    y_train = corrupt_labels(
        y_clean,
        spec.num_classes,
        label_noise=label_noise,
        random_labels=random_labels,
        seed=seed,
    )
    return Split(x_train, y_train, x_val, y_val, x_test, y_test, spec.num_classes, shape, y_clean)


def corrupt_labels(
    labels: np.ndarray,
    num_classes: int,
    *,
    label_noise: float = 0.0,
    random_labels: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """A corrupted copy of ``labels``.

    ``label_noise``: exactly ``round(label_noise * n)`` labels, chosen without
    replacement, each moved to a different class drawn uniformly among the other
    ``num_classes - 1``. ``random_labels``: every label drawn uniformly from all classes
    (about 1/num_classes keep their class by chance). Same seed, same labels.

    >>> corrupt_labels(np.array([0, 1, 2, 0, 1, 2]), 3, label_noise=0.5, seed=0).tolist()
    [0, 1, 0, 1, 0, 2]
    """
    check_labels(label_noise, random_labels)
    labels = np.array(labels, dtype=np.int64)
    rng = np.random.default_rng([LABEL_SALT, int(seed)])
    if random_labels:
        return rng.integers(0, num_classes, size=len(labels))
    count = round(label_noise * len(labels))
    if count:
        chosen = rng.choice(len(labels), size=count, replace=False)
        shift = rng.integers(1, num_classes, size=count)  # never 0: always another class
        labels[chosen] = (labels[chosen] + shift) % num_classes
    return labels


def check_labels(label_noise: float = 0.0, random_labels: bool = False) -> None:
    """Raise ``ValueError`` for a label-noise fraction outside [0, 1] or noise combined
    with ``random_labels`` (which already replaces every label)."""
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be a fraction in [0, 1], got {label_noise!r}")
    if random_labels and label_noise:
        raise ValueError(
            f"random_labels replaces every training label; label_noise={label_noise!r} "
            "would be ignored: set label_noise = 0 with random_labels = true"
        )


def spec_of(name: str) -> DatasetSpec:
    """The spec of a dataset, or ``ValueError`` naming the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def input_shape(name: str, block: str) -> tuple[int, ...]:
    """The per-sample input shape that dataset ``name`` gives ``block``.

    >>> input_shape("digits", "conv"), input_shape("sines", "recurrent")
    ((8, 8, 1), (32, 1))
    """
    return shape_for_rank(name, _block_rank(block), block=block)


def shape_for_rank(name: str, rank: int, *, block: str = "") -> tuple[int, ...]:
    """The per-sample shape of the rank-``rank`` view, or ``ValueError`` saying which
    dataset to use instead.

    >>> shape_for_rank("digits", 2)
    (8, 8)
    """
    spec = spec_of(name)
    if rank in spec.shapes:
        return spec.shapes[rank]
    needs = RANK_NAMES.get(rank, f"rank-{rank} inputs")
    who = f"block {block!r}" if block else "the block"
    fits = [other for other, s in DATASETS.items() if rank in s.shapes]
    advice = (
        "use dataset " + " or ".join(repr(f) for f in fits)
        if fits
        else "no dataset offers that rank"
    )
    raise ValueError(
        f"dataset {name!r} is {spec.kind} ({_ranks_text(spec)}); "
        f"{who} needs {needs} (rank {rank}): {advice}"
    )


def check(
    name: str,
    block: str,
    knobs: Mapping[str, Any] | None = None,
    *,
    label_noise: float = 0.0,
    random_labels: bool = False,
) -> tuple[int, ...]:
    """Check, before any training, that dataset ``name`` fits ``block`` with ``knobs``
    (and that the label settings make sense); return the input shape.

    Raises ``ValueError`` with a message that says what to change, e.g.
    ``dataset 'breast_cancer' is tabular (rank 1); block 'conv' needs images (rank 3):
    use dataset 'digits'``.

    >>> check("digits", "dense", {"units": 8})
    (64,)
    """
    import blocks

    check_labels(label_noise, random_labels)
    shape = input_shape(name, block)
    try:
        blocks.validate(block, shape, **dict(knobs or {}))
    except ValueError as error:
        raise ValueError(
            f"block {block!r} does not fit dataset {name!r} (input {shape}): {error}"
        ) from error
    return shape


def _block_rank(block: str) -> int:
    import blocks

    registry = getattr(blocks, "BLOCKS", {})
    if block not in registry:
        raise ValueError(f"unknown block {block!r}; known: {', '.join(sorted(registry))}")
    return int(registry[block].input_rank)


def _ranks_text(spec: DatasetSpec) -> str:
    ranks = spec.ranks
    if len(ranks) == 1:
        return f"rank {ranks[0]}"
    return "ranks " + ", ".join(str(r) for r in ranks)


@functools.cache
def _scaled_parts(name: str) -> tuple[np.ndarray, ...]:
    """Flat, scaled (x_train, y_train, x_val, y_val, x_test, y_test), read-only."""
    spec = DATASETS[name]
    x, y = _RAW[name]()
    x = x.reshape(len(x), -1).astype(np.float64)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=VAL_FRACTION / (1.0 - TEST_FRACTION),
        stratify=y_rest,
        random_state=SPLIT_SEED,
    )
    axis = 0 if spec.scaling == "per_feature" else None
    mean = x_train.mean(axis=axis)
    std = x_train.std(axis=axis)
    std = np.where(std > 0, std, 1.0)
    parts = []
    for xs, ys in ((x_train, y_train), (x_val, y_val), (x_test, y_test)):
        xs = ((xs - mean) / std).astype(np.float32)
        ys = np.asarray(ys, dtype=np.int64)
        xs.setflags(write=False)
        ys.setflags(write=False)
        parts += [xs, ys]
    return tuple(parts)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return data.data, data.target


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    data = load_breast_cancer()
    return data.data, data.target


def sines(
    num_samples: int = SINES_SAMPLES, *, num_steps: int = SINES_STEPS, seed: int = SINES_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the ``sines`` task (unscaled): series ``(num_samples, num_steps)`` and
    balanced labels (index into ``SINES_CYCLES``). See the module docstring.

    >>> x, y = sines(8)
    >>> x.shape, sorted(y.tolist())
    ((8, 32), [0, 0, 1, 1, 2, 2, 3, 3])
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_samples) % len(SINES_CYCLES))
    steps = np.arange(num_steps)

    def wave(cycles: np.ndarray) -> np.ndarray:
        amplitude = rng.uniform(0.5, 1.0, (num_samples, 1))
        phase = rng.uniform(0.0, 2 * np.pi, (num_samples, 1))
        return amplitude * np.sin(2 * np.pi * cycles[:, None] * steps / num_steps + phase)

    signal = wave(np.asarray(SINES_CYCLES)[labels])
    distractor = wave(rng.choice(SINES_DISTRACTORS, num_samples))
    noise = rng.normal(0.0, SINES_NOISE, (num_samples, num_steps))
    return signal + distractor + noise, labels


_RAW = {"digits": _digits, "breast_cancer": _breast_cancer, "sines": sines}
