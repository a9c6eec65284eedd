"""Benchmark configs: TOML files (or shipped presets) -> validated run settings + cells.

A config has an optional ``[run]`` table and one or more ``[[matrix]]`` tables. In a
matrix table every list-valued key is an axis and the cells are the product of the axes
(``input_shape`` is a list of ints, so only a list of lists is an axis for it). Errors are
collected before anything runs, and each names the file, the table, the key and what was
expected.

>>> spec = loads('''
... [[matrix]]
... block = "dense"
... input_shape = [16]
... units = [8, 16]
... batch_size = 4
... pass = "forward"
... ''', source="inline.toml")
>>> [c.label for c in spec.cells][:2]
['dense units=8 b4 forward cpu', 'dense units=16 b4 forward cpu']
>>> [(c.block, c.pass_) for c in spec.cells][2:]  # the reference workload's cells
[('reference', 'forward'), ('reference', 'train')]
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from bench.spec.backends import BACKENDS, DEFAULT_BACKEND
from bench.spec.cell import DEVICES, PASSES, UNTIL, Cell, FitSettings, freeze
from bench.spec.reference import BLOCK as REFERENCE_BLOCK
from bench.spec.reference import reference_cells

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Bump when what a cell measures changes (a resumed run never mixes two methods).
# 2: XLA cells compile the step; 3: rounds in fresh processes; 4: a round's first revisit
# discards a warm-up sample (its first call after the block was built ran slow); 5: every
# sample keeps its start time, so its moment's machine speed can be taken out; 6: the
# reference workload is sampled in every sweep, beside the cells
MEASUREMENT_VERSION = 6
# Settings that change what is captured beside the measurements, not the measurements.
_UNHASHED_SETTINGS = ("profile", "profile_steps")
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16", "float16")
_MATRIX_KEYS = {"block", "input_shape", "batch_size", "pass", "device", "xla", "dtype_policy",
                "backend", "exclude", "profile"}  # fmt: skip
_FIT_KEYS = {"dataset", "epochs", "learning_rate", "seeds", "label_noise", "random_labels",
             "patience", "until", "max_epochs", "epsilon"}  # fmt: skip
DEFAULT_FIT_EPOCHS = 20
_TOP_KEYS = {"run", "matrix", "description"}
_MAY_BE_ZERO = {"warmup", "seed", "memory_limit_gb"}


class ConfigError(ValueError):
    """A config problem; the message lists every problem found, one per line."""


@dataclass(frozen=True)
class RunSettings:
    """The ``[run]`` table: how every timing cell is measured."""

    rounds: int = 3  # fresh worker processes per timing cell, cells shuffled in each
    repeats: int = 3  # measured samples per cell, round and visit
    visits: int = 1  # visits per cell and round: its samples spread over as many moments
    warmup: int = 1  # samples discarded after compile, in every round
    min_sample_s: float = 0.2  # each sample lasts at least this long (K is calibrated)
    max_steps_per_sample: int = 100_000
    timeout_s: float = 600.0  # per cell; a cell past it is killed and recorded as failed
    seed: int = 0
    fit_step: bool = True  # also time Keras' own fit()/predict() step, labelled as such
    xla_check: bool = True  # XLA cells compare their outputs with the non-XLA forward
    memory: bool = True  # allocator and RSS peaks per cell (in the extras phase)
    memory_steps: int = 3  # steps run after compile while the peak is tracked
    canary: bool = True  # a fixed matmul chain at the start, between rounds, at the end
    reference: bool = True  # fixed reference cells in every sweep (`bench.spec.reference`)
    profile: bool = False  # TensorBoard profile for every cell (or per matrix table)
    profile_steps: int = 3
    tf32: bool = False  # TF32 on GPU; pinned off by default and recorded
    memory_limit_gb: float = 0.0  # worker RSS limit; 0 means 80% of this machine's RAM

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Spec:
    """A validated config: where it came from, its settings and its cells."""

    source: str
    name: str
    settings: RunSettings
    cells: tuple[Cell, ...]
    text: str

    @property
    def config_hash(self) -> str:
        """Hash of the measurement version, the settings and the cell ids: same hash, same
        work (used to resume). Profiling settings are left out: profiling never changes
        a measurement, so ``--profile`` can resume a run started without it."""
        settings = {k: v for k, v in self.settings.to_dict().items() if k not in _UNHASHED_SETTINGS}
        payload = json.dumps(
            {
                "version": MEASUREMENT_VERSION,
                "settings": settings,
                "cells": sorted(c.cell_id for c in self.cells),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def preset_names() -> list[str]:
    """Presets shipped inside the package.

    >>> "smoke" in preset_names()
    True
    """
    folder = resources.files("bench.spec.presets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load(preset_or_file: str | Path) -> Spec:
    """Load a shipped preset by name, or a TOML file by path."""
    path = Path(preset_or_file)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise ConfigError(f"{path}: no such config file")
        return loads(path.read_text(), source=str(path), name=path.stem)
    name = str(preset_or_file)
    if name not in preset_names():
        close = difflib.get_close_matches(name, preset_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{name!r} is neither a config file nor a preset{hint}; "
            f"presets: {', '.join(preset_names())}"
        )
    text = resources.files("bench.spec.presets").joinpath(f"{name}.toml").read_text()
    return loads(text, source=f"preset:{name}", name=name)


def loads(text: str, *, source: str = "<config>", name: str = "config") -> Spec:
    """Parse and validate config text; raise ``ConfigError`` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from error
    errors: list[str] = []
    for key in data:
        if key not in _TOP_KEYS:
            errors.append(_unknown(source, "top level", key, _TOP_KEYS))
    settings = _settings(data.get("run", {}), source, errors)
    tables = data.get("matrix")
    cells: list[Cell] = []
    if not isinstance(tables, list) or not tables:
        errors.append(f"{source}: no [[matrix]] table: a config needs at least one")
    else:
        for index, table in enumerate(tables):
            cells.extend(_expand(table, f"{source} [[matrix]] #{index + 1}", settings, errors))
    if not errors and not cells:
        errors.append(f"{source}: the matrix is empty (every combination was excluded)")
    seen: dict[str, Cell] = {}
    for cell in cells:
        if cell.cell_id in seen:
            errors.append(f"{source}: duplicate cell {cell.label!r} (listed twice in the matrix)")
        seen[cell.cell_id] = cell
    if errors:
        raise ConfigError("\n".join(dict.fromkeys(errors)))
    if settings.reference:
        cells.extend(reference_cells(cells))
    return Spec(source=source, name=name, settings=settings, cells=tuple(cells), text=text)


# -- [run] --------------------------------------------------------------------------
def _settings(table: Any, source: str, errors: list[str]) -> RunSettings:
    where = f"{source} [run]"
    if not isinstance(table, dict):
        errors.append(f"{where}: expected a table")
        return RunSettings()
    defaults = RunSettings()
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in {f.name for f in fields(RunSettings)}:
            errors.append(_unknown(where, "[run]", key, [f.name for f in fields(RunSettings)]))
            continue
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            errors.append(f"{where}: {key} = {value!r}: expected {expected.__name__}")
            continue
        if expected in (int, float):
            floor_ok = key in _MAY_BE_ZERO and value == 0
            if value < 0 or (value == 0 and not floor_ok):
                lowest = "a non-negative number" if key in _MAY_BE_ZERO else "a positive number"
                errors.append(f"{where}: {key} = {value!r}: expected {lowest}")
                continue
        values[key] = value
    return RunSettings(**values)


# -- [[matrix]] ---------------------------------------------------------------------
def _expand(table: Any, where: str, settings: RunSettings, errors: list[str]) -> list[Cell]:
    import blocks  # imported late: loading a config for `report` never needs Keras
    from bench.spec.plugins import load_plugins

    load_plugins()

    if not isinstance(table, dict):
        errors.append(f"{where}: expected a table")
        return []
    block = table.get("block")
    if not isinstance(block, str):
        errors.append(f"{where}: block: expected a block name, one of {sorted(blocks.BLOCKS)}")
        return []
    if block == REFERENCE_BLOCK:
        errors.append(
            f"{where}: block: {block!r} is the reserved name of blockbench's "
            "reference workload; it is measured with every run ([run] reference)"
        )
        return []
    if block not in blocks.BLOCKS:
        errors.append(_unknown(where, "block", block, blocks.BLOCKS))
        return []
    knob_names = set(blocks.BLOCKS[block].defaults)
    passes = _as_list(table.get("pass", ["forward", "train"]))
    is_fit = "fit" in passes
    allowed = _MATRIX_KEYS | knob_names | (_FIT_KEYS if is_fit else set())
    bad = False
    for key in table:
        if key not in allowed:
            hint_pool = allowed | (_FIT_KEYS if not is_fit else set())
            message = _unknown(where, "key", key, hint_pool)
            if key in _FIT_KEYS:
                message = f'{where}: {key} is a fit setting: it needs pass = "fit"'
            errors.append(message)
            bad = True
    if is_fit and len(passes) > 1:
        errors.append(f"{where}: pass: fit cells go in their own [[matrix]] table, got {passes}")
        bad = True
    for value in passes:
        if value not in PASSES:
            errors.append(f"{where}: pass = {value!r}: expected one of {list(PASSES)}")
            bad = True
    if is_fit and any(b != DEFAULT_BACKEND for b in _as_list(table.get("backend", []))):
        errors.append(
            f"{where}: backend: fit cells train on the tensorflow backend only (the study's "
            "traced multi-epoch loop and stacked seeds are TensorFlow programs)"
        )
        bad = True
    if bad:
        return []
    # Axis order = nesting order: capacity outermost, then shape, batch, pass, device, XLA.
    axes: dict[str, list[Any]] = {
        f"knob:{knob}": [freeze(v) for v in _as_list(table[knob])]
        for knob in sorted(knob_names & set(table))
    }
    if is_fit:
        axes.update(_fit_axes(table, where, errors, blocks))
    else:
        axes["input_shape"] = _shapes(table.get("input_shape"), where, errors)
    axes.update(
        {
            "batch_size": _checked(table, "batch_size", None, where, errors, _positive_int),
            "pass": passes,
            "device": _checked(table, "device", ["cpu"], where, errors, _one_of(DEVICES)),
            "xla": _checked(table, "xla", [False], where, errors, _is(bool, "true or false")),
            "dtype_policy": _checked(
                table, "dtype_policy", ["float32"], where, errors, _one_of(DTYPE_POLICIES)
            ),
            "backend": _checked(
                table, "backend", [DEFAULT_BACKEND], where, errors, _one_of(BACKENDS)
            ),
            "profile": _checked(
                table, "profile", [settings.profile], where, errors, _is(bool, "true or false")
            ),
        }
    )
    if axes["batch_size"] is None:
        errors.append(f"{where}: batch_size: required (a positive integer or a list)")
        return []
    if any(not values for values in axes.values()):
        return []  # an axis was invalid or empty; its error is already recorded
    excludes = _excludes(table.get("exclude", []), where, axes, errors)
    names = list(axes)
    cells: list[Cell] = []
    for combo in itertools.product(*(axes[n] for n in names)):
        point = dict(zip(names, combo, strict=True))
        if any(all(_matches(point, k, v) for k, v in rule.items()) for rule in excludes):
            continue
        cell = _make_cell(block, point, where, errors, blocks)
        if cell is not None:
            cells.append(cell)
    return cells


def _make_cell(block: str, point: dict[str, Any], where: str, errors: list[str], blocks: Any):
    knobs = tuple(sorted((k[5:], v) for k, v in point.items() if k.startswith("knob:")))
    fit = None
    shape = point.get("input_shape")
    if point["pass"] == "fit":
        from bench.data import datasets

        try:
            datasets.check(
                point["dataset"],
                block,
                {k: _thawed(v) for k, v in knobs},
                label_noise=float(point["label_noise"]),
                random_labels=point["random_labels"],
            )
            shape = tuple(datasets.input_shape(point["dataset"], block))
        except ValueError as error:
            errors.append(f"{where}: dataset = {point['dataset']!r}: {error}")
            return None
        epochs = _fit_epochs(point, where, errors)
        if epochs is None:
            return None
        fit = FitSettings(
            dataset=point["dataset"],
            epochs=epochs,
            learning_rate=float(point["learning_rate"]),
            seed=point["seeds"],
            label_noise=float(point["label_noise"]),
            random_labels=point["random_labels"],
            patience=point["patience"],
            until=point["until"],
            epsilon=float(point["epsilon"]),
        )
    try:
        blocks.validate(block, tuple(shape), **{k: _thawed(v) for k, v in knobs})
    except ValueError as error:
        label = " ".join(f"{k}={v}" for k, v in knobs)
        errors.append(f"{where}: {block} {label} on input_shape {list(shape)}: {error}")
        return None
    return Cell(
        block=block,
        knobs=knobs,
        input_shape=tuple(shape),
        batch_size=point["batch_size"],
        pass_=point["pass"],
        device=point["device"],
        xla=point["xla"],
        dtype_policy=point["dtype_policy"],
        fit=fit,
        backend=point["backend"],
        profile=point["profile"],
    )


def _fit_axes(table: dict, where: str, errors: list[str], blocks: Any) -> dict[str, list[Any]]:
    dataset = _checked(table, "dataset", None, where, errors, _is(str, "a dataset name"))
    if dataset is None:
        errors.append(f'{where}: dataset: required for pass = "fit"')
    if "input_shape" in table:
        errors.append(f"{where}: input_shape: fit cells take their shape from the dataset")
    return {
        "dataset": dataset or [],
        "until": _checked(table, "until", ["epochs"], where, errors, _one_of(UNTIL)),
        "epochs": _checked(table, "epochs", [None], where, errors, _positive_int),
        "max_epochs": _checked(table, "max_epochs", [None], where, errors, _positive_int),
        "epsilon": _checked(table, "epsilon", [0.01], where, errors, _open_fraction),
        "learning_rate": _checked(table, "learning_rate", [1e-3], where, errors, _positive_float),
        "seeds": _checked(table, "seeds", [0], where, errors, _non_negative_int),
        "label_noise": _checked(table, "label_noise", [0.0], where, errors, _fraction),
        "random_labels": _checked(
            table, "random_labels", [False], where, errors, _is(bool, "true or false")
        ),
        "patience": _checked(table, "patience", [3], where, errors, _positive_int),
    }


def _fit_epochs(point: dict[str, Any], where: str, errors: list[str]) -> int | None:
    """Epochs to train (``until = "epochs"``) or the cap (``until = "interpolation"``)."""
    if point["until"] == "interpolation":
        if point["epochs"] is not None:
            errors.append(
                f'{where}: epochs: with until = "interpolation" training stops at '
                "interpolation; set its cap with max_epochs instead"
            )
            return None
        if point["max_epochs"] is None:
            errors.append(f'{where}: max_epochs: required with until = "interpolation"')
            return None
        return point["max_epochs"]
    if point["max_epochs"] is not None:
        errors.append(
            f'{where}: max_epochs: only with until = "interpolation" (a fixed run takes epochs)'
        )
        return None
    return point["epochs"] if point["epochs"] is not None else DEFAULT_FIT_EPOCHS


def _shapes(value: Any, where: str, errors: list[str]) -> list[tuple[int, ...]]:
    shapes = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    out = []
    for shape in shapes:
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            errors.append(
                f"{where}: input_shape = {value!r}: expected a list of positive integers "
                "without the batch axis, e.g. [28, 28, 1] (or a list of such lists)"
            )
            return []
        out.append(tuple(shape))
    return out


def _excludes(value: Any, where: str, axes: dict, errors: list[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        errors.append(f"{where}: exclude: expected a list of tables, e.g. [{{xla = true}}]")
        return []
    known = {k[5:] if k.startswith("knob:") else k for k in axes}
    rules = []
    for rule in value:
        for key in rule:
            if key not in known:
                errors.append(_unknown(where, "exclude key", key, known))
        rules.append({k: freeze(v) for k, v in rule.items()})
    return rules


def _matches(point: dict[str, Any], key: str, value: Any) -> bool:
    actual = point.get(key, point.get(f"knob:{key}"))
    if key == "input_shape":
        return actual == tuple(value)
    return actual == value


# -- small checkers -----------------------------------------------------------------
Checker = Callable[[Any], str | None]  # returns what was expected, or None when fine


def _checked(
    table: dict, key: str, default: list[Any] | None, where: str, errors: list[str], check: Checker
) -> list[Any] | None:
    if key not in table:
        return default
    values = _as_list(table[key])
    if not values:
        errors.append(f"{where}: {key}: an empty list makes an empty axis")
        return []
    for value in values:
        expected = check(value)
        if expected:
            errors.append(f"{where}: {key} = {value!r}: expected {expected}")
            return []
    return values


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _thawed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _is(kind: type, expected: str) -> Checker:
    return lambda v: None if type(v) is kind else expected


def _one_of(options: Iterable[str]) -> Checker:
    options = tuple(options)
    return lambda v: None if v in options else f"one of {list(options)}"


def _positive_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "a positive integer"


def _non_negative_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else "a non-negative integer"


def _positive_float(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    return None if ok else "a positive number"


def _fraction(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
    return None if ok else "a fraction in [0, 1)"


def _open_fraction(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    return None if ok else "a fraction in (0, 1)"


def _unknown(where: str, what: str, key: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{where}: unknown {what} {key!r}{hint} (expected one of: {', '.join(known)})"
