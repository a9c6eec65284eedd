"""One cell of the benchmark matrix: what to build and how to run it.

A cell is a frozen record. Its id is a hash of its canonical JSON form, so the same
configuration gets the same id in every run, on every machine, in every shard.

>>> cell = Cell(block="dense", knobs=(("units", 32),), input_shape=(64,), batch_size=8,
...             pass_="train", device="cpu", xla=False)
>>> cell.cell_id == Cell.from_dict(cell.to_dict()).cell_id
True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from bench.spec.backends import DEFAULT_BACKEND, LABEL_MODES

PASSES = ("forward", "train", "fit")
TIMING_PASSES = ("forward", "train")
DEVICES = ("cpu", "gpu")


def freeze(value: Any) -> Any:
    """Turn lists (from TOML or JSON) into tuples so values hash and compare.

    >>> freeze([1, [2, 3]])
    (1, (2, 3))
    """
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`, for JSON output.

    >>> thaw((1, (2, 3)))
    [1, [2, 3]]
    """
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


UNTIL = ("epochs", "interpolation")


@dataclass(frozen=True)
class FitSettings:
    """How a ``pass = "fit"`` cell trains: one seed of one capacity on one dataset.

    ``until = "epochs"`` trains exactly ``epochs`` epochs; ``until = "interpolation"``
    stops at the first epoch whose inference-mode error on the (possibly corrupted)
    training labels is <= ``epsilon``, or after ``epochs`` epochs (the config calls it
    ``max_epochs``). ``epsilon`` also defines the interpolation epoch that every fit
    records.

    >>> FitSettings("digits", 2000, until="interpolation", epsilon=0.01).problems()
    []
    >>> for problem in FitSettings("digits", 0, until="forever", epsilon=1.5).problems():
    ...     print(problem)
    until = 'forever': expected one of ['epochs', 'interpolation']
    epochs = 0: expected a positive integer
    epsilon = 1.5: expected a fraction in (0, 1)
    """

    dataset: str
    epochs: int
    learning_rate: float = 1e-3
    seed: int = 0
    label_noise: float = 0.0
    random_labels: bool = False
    patience: int = 3
    until: str = "epochs"
    epsilon: float = 0.01

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when nothing is)."""
        found = []
        if self.until not in UNTIL:
            found.append(f"until = {self.until!r}: expected one of {list(UNTIL)}")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            found.append(f"epochs = {self.epochs!r}: expected a positive integer")
        if not 0.0 < self.epsilon < 1.0:
            found.append(f"epsilon = {self.epsilon!r}: expected a fraction in (0, 1)")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Cell:
    """A benchmark cell: block, capacity knobs, shape, batch, pass, device, XLA, backend.

    ``xla`` is the backend's compilation switch (`bench.spec.backends`). The id of a
    TensorFlow cell leaves the backend out, so ids from before the backend axis hold.

    ``knobs`` is a sorted tuple of ``(name, value)`` pairs, values frozen (tuples).
    ``profile`` asks for a TensorBoard profile; it is not part of the identity because
    profiling never changes what is measured (it runs in a separate phase).
    """

    block: str
    knobs: tuple[tuple[str, Any], ...]
    input_shape: tuple[int, ...]
    batch_size: int
    pass_: str
    device: str = "cpu"
    xla: bool = False
    dtype_policy: str = "float32"
    fit: FitSettings | None = None
    backend: str = DEFAULT_BACKEND
    profile: bool = field(default=False, compare=False)

    @property
    def knob_dict(self) -> dict[str, Any]:
        return dict(self.knobs)

    def identity(self) -> dict[str, Any]:
        """The canonical, JSON-ready form that the id hashes."""
        identity = {
            "block": self.block,
            "knobs": {name: thaw(value) for name, value in self.knobs},
            "input_shape": list(self.input_shape),
            "batch_size": self.batch_size,
            "pass": self.pass_,
            "device": self.device,
            "xla": self.xla,
            "dtype_policy": self.dtype_policy,
            "fit": self.fit.to_dict() if self.fit else None,
        }
        if self.backend != DEFAULT_BACKEND:
            identity["backend"] = self.backend
        return identity

    @property
    def cell_id(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def group_id(self) -> str:
        """Id shared by the seeds of one fit configuration (equal to cell_id otherwise)."""
        if self.fit is None:
            return self.cell_id
        identity = self.identity()
        identity["fit"] = {k: v for k, v in identity["fit"].items() if k != "seed"}
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """A short readable name, e.g. ``conv filters=32 b64 train cpu xla`` (TensorFlow)
        or ``conv filters=32 b64 train cpu jax jit``."""
        knobs = " ".join(f"{k}={_short(v)}" for k, v in self.knobs)
        parts = [self.block, knobs, f"b{self.batch_size}", self.pass_, self.device]
        if self.backend != DEFAULT_BACKEND:
            parts += [self.backend, LABEL_MODES[self.backend][int(self.xla)]]
        elif self.xla:
            parts.append("xla")
        if self.dtype_policy != "float32":
            parts.append(self.dtype_policy)
        if self.fit is not None:
            parts.append(self.fit.dataset)
            if self.fit.random_labels:
                parts.append("random-labels")
            elif self.fit.label_noise:
                parts.append(f"noise={self.fit.label_noise:g}")
            parts.append(f"seed={self.fit.seed}")
        return " ".join(p for p in parts if p)

    @property
    def slug(self) -> str:
        """The label as a file-system-safe name (for TensorBoard run folders)."""
        safe = "".join(c if c.isalnum() or c in "=-." else "_" for c in self.label)
        return f"{safe}_{self.cell_id[:6]}"

    def to_dict(self) -> dict[str, Any]:
        data = self.identity()
        data["profile"] = self.profile
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cell:
        fit = data.get("fit")
        return cls(
            block=data["block"],
            knobs=tuple(sorted((k, freeze(v)) for k, v in data["knobs"].items())),
            input_shape=tuple(data["input_shape"]),
            batch_size=int(data["batch_size"]),
            pass_=data["pass"],
            device=data.get("device", "cpu"),
            xla=bool(data.get("xla", False)),
            dtype_policy=data.get("dtype_policy", "float32"),
            fit=FitSettings(**fit) if fit else None,
            backend=data.get("backend", DEFAULT_BACKEND),
            profile=bool(data.get("profile", False)),
        )


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return "-".join(_short(v) for v in value)
    return str(value)
