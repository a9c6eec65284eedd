"""`BlockSpec`: one registry entry, a callable builder with its knobs and closed forms.

A spec is data: the knobs and their defaults, which knobs are capacity, the input rank, and
plain functions of ``(input_shape, knobs)`` for validation, output shape and costs. Calling
the spec validates the knobs and builds a new Keras layer with fresh weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

Shape = tuple[Any, ...]
Knobs = Mapping[str, Any]

RANK_MEANING = {
    1: "(features,)",
    2: "(time, features)",
    3: "(height, width, channels)",
}


class _Required:
    """Type of the `REQUIRED` sentinel: a knob default that must be given."""

    def __repr__(self) -> str:
        return "REQUIRED"

    def __reduce__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


def _no_shape_check(input_shape: Shape, knobs: Knobs) -> None:
    """Default shape check: nothing beyond the rank check `BlockSpec` does itself."""


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it holds functions
class BlockSpec:
    """A registered block: calling it builds a new layer with fresh weights.

    ``check(knobs, given)`` validates knob types and values (``given`` is the set of knob
    names the caller passed); ``check_shape(input_shape, knobs)`` validates the input shape
    (rank is checked before it). ``output_shape``, ``params``, ``flops`` and
    ``activations`` take ``(input_shape, knobs)`` with every knob resolved.

    >>> from blocks import BLOCKS
    >>> spec = BLOCKS["dense"]
    >>> spec.defaults["depth"], spec.capacity_knobs, spec.input_rank
    (1, ('units', 'depth'), 1)
    >>> layer = spec(units=8)  # a new keras layer each call
    """

    name: str
    layer: type
    defaults: Mapping[str, object]
    capacity_knobs: tuple[str, ...]
    input_rank: int
    check: Callable[[Knobs, frozenset[str]], None]
    output_shape: Callable[[Shape, Knobs], Shape]
    params: Callable[[Shape, Knobs], Any]
    flops: Callable[[Shape, Knobs], Any]
    activations: Callable[[Shape, Knobs], int]
    check_shape: Callable[[Shape, Knobs], None] = _no_shape_check
    # A few small valid values per knob and small input shapes: tests walk these, so a new
    # block is tested as soon as it is registered; smoke runs can use them too.
    small_knobs: Mapping[str, tuple[object, ...]] = field(default_factory=dict)
    small_inputs: tuple[Shape, ...] = ()
    summary: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "small_knobs", MappingProxyType(dict(self.small_knobs)))

    def __call__(self, **knobs: object) -> Any:
        """Validate ``knobs`` and build a new layer: ``BLOCKS["conv"](filters=8)``."""
        return self.layer(**self.resolve(knobs))

    def resolve(self, knobs: Knobs, input_shape: Shape | None = None) -> dict[str, object]:
        """Validate ``knobs`` (and ``input_shape`` if given); return every knob resolved.

        >>> from blocks import BLOCKS
        >>> BLOCKS["conv"].resolve({"filters": 4})["kernel_size"]
        3
        """
        unknown = sorted(set(knobs) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"unknown knob {unknown[0]!r} for block {self.name!r}; "
                f"valid knobs: {', '.join(self.defaults)}"
            )
        missing = [k for k, v in self.defaults.items() if v is REQUIRED and k not in knobs]
        if missing:
            raise ValueError(f"block {self.name!r} needs knob {missing[0]!r} (it is required)")
        resolved = {**self.defaults, **knobs}
        self.check(resolved, frozenset(knobs))
        if input_shape is not None:
            self.check_shape(self.check_input_shape(input_shape), resolved)
        return resolved

    def small_cases(self) -> list[tuple[Shape, dict[str, object]]]:
        """A few small valid ``(input_shape, knobs)`` cases that together use every small value.

        Case ``i`` takes the ``i``-th value of every knob in `small_knobs` (cycling) and the
        ``i``-th small input; optional knobs are dropped, in order, until the case is valid.
        The first case gives only the required knobs.

        >>> from blocks import BLOCKS
        >>> spec = BLOCKS["recurrent"]
        >>> sorted({spec.resolve(knobs)["cell"] for _, knobs in spec.small_cases()})
        ['gru', 'lstm', 'simple_rnn']
        """
        if not self.small_inputs:
            return []
        required = [k for k, v in self.defaults.items() if v is REQUIRED]
        rounds = max([len(v) for v in self.small_knobs.values()] + [len(self.small_inputs)])
        candidates = [
            (self.small_inputs[0], {k: self.small_knobs[k][0] for k in required}),
            *(
                (
                    self.small_inputs[i % len(self.small_inputs)],
                    {k: values[i % len(values)] for k, values in self.small_knobs.items()},
                )
                for i in range(rounds)
            ),
        ]
        cases: list[tuple[Shape, dict[str, object]]] = []
        seen: list[tuple[Shape, dict[str, object]]] = []
        for shape, knobs in candidates:
            optional = [k for k in knobs if k not in required]
            for dropped in range(len(optional) + 1):
                trial = {k: v for k, v in knobs.items() if k not in optional[:dropped]}
                try:
                    resolved = self.resolve(trial, shape)
                except ValueError:
                    continue
                if (shape, resolved) not in seen:
                    seen.append((shape, resolved))
                    cases.append((shape, trial))
                break
        return cases

    def check_input_shape(self, input_shape: Shape) -> Shape:
        """Check the rank and dimensions of ``input_shape`` (no batch axis); return a tuple.

        >>> from blocks import BLOCKS
        >>> BLOCKS["recurrent"].check_input_shape([100, 5])
        (100, 5)
        """
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise ValueError(
                f"block {self.name!r}: input_shape must be a tuple, got {input_shape!r}"
            ) from None
        if len(shape) != self.input_rank:
            raise ValueError(
                f"block {self.name!r} expects an input of rank {self.input_rank} "
                f"{RANK_MEANING.get(self.input_rank, '')} without the batch axis; "
                f"got input_shape {shape} of rank {len(shape)}"
            )
        for dim in shape:
            if dim is not None and (not _is_int(dim) or dim < 1):
                raise ValueError(
                    f"block {self.name!r}: input dimensions must be positive ints or None, "
                    f"got input_shape {shape}"
                )
        return tuple(None if dim is None else int(dim) for dim in shape)


def layer_knobs(spec: BlockSpec, **args: object) -> Mapping[str, object]:
    """Validate a layer's constructor arguments; those equal to their default count as not given.

    Layers call this from ``__init__`` so that ``from_config`` validates too. The result is
    read-only (and so not wrapped by Keras attribute tracking).

    >>> from blocks import BLOCKS
    >>> layer_knobs(BLOCKS["dense"], units=[4, 2], depth=1, batch_norm=True)["units"]
    [4, 2]
    """
    given = {
        k: v
        for k, v in args.items()
        if k not in spec.defaults or spec.defaults[k] is REQUIRED or not _same(v, spec.defaults[k])
    }
    return MappingProxyType(spec.resolve(given))


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_int(block: str, knob: str, value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= 1.

    >>> check_positive_int("conv", "filters", 8)
    """
    if not _is_int(value) or value < 1:
        raise ValueError(f"block {block!r}: knob {knob!r} must be a positive int, got {value!r}")


def check_bool(block: str, knob: str, value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is a bool.

    >>> check_bool("conv", "pool", True)
    """
    if not isinstance(value, bool):
        raise ValueError(f"block {block!r}: knob {knob!r} must be True or False, got {value!r}")


def check_choice(block: str, knob: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``.

    >>> check_choice("recurrent", "cell", "gru", ("lstm", "gru"))
    """
    if value not in choices:
        raise ValueError(
            f"block {block!r}: knob {knob!r} must be one of {', '.join(choices)}; got {value!r}"
        )


def check_rate(block: str, knob: str, value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is a number in [0, 1).

    >>> check_rate("recurrent", "dropout", 0.2)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"block {block!r}: knob {knob!r} must be a rate in [0, 1), got {value!r}")
