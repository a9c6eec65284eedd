"""Numbers as people read them: a unit, a sensible number of significant figures.

Every formatter takes ``None`` (or NaN) and returns :data:`MISSING`, so tables never show
``nan``. Times, bytes and FLOPs use three significant figures; counts are exact with
thousands separators; ratios use two significant figures.

>>> format_seconds(0.0013125), format_bytes(19_608_000), format_count(31137)
('1.31 ms', '18.7 MiB', '31,137')
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MISSING = "—"

_TIME_UNITS = ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s"))
_BYTE_UNITS = ((1, "B"), (2**10, "KiB"), (2**20, "MiB"), (2**30, "GiB"), (2**40, "TiB"))
_SI_PREFIXES = ((1, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"), (1e15, "P"))


def is_missing(value: object) -> bool:
    """True for ``None`` and NaN (what pandas puts in empty cells).

    >>> is_missing(None), is_missing(float("nan")), is_missing(0.0)
    (True, True, False)
    """
    if value is None:
        return True
    try:
        return math.isnan(value)  # type: ignore[arg-type]
    except TypeError:
        return False


def significant(value: float, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` significant figures, trailing zeros kept, no exponent.

    >>> significant(1.3125), significant(2.0), significant(245.4), significant(12345.0)
    ('1.31', '2.00', '245', '12,300')
    """
    if value == 0:
        return "0"
    decimals = _decimals(value, digits)
    rounded = round(value, decimals)
    if rounded != 0 and _decimals(rounded, digits) < decimals:  # 9.996 -> 10.0 -> "10.0"
        decimals = _decimals(rounded, digits)
        rounded = round(value, decimals)
    return f"{rounded:,.{max(decimals, 0)}f}"


def _decimals(value: float, digits: int) -> int:
    return digits - 1 - math.floor(math.log10(abs(value)))


def _scaled(value: float, units: Sequence[tuple[float, str]], digits: int) -> str:
    """The largest unit that keeps the number >= 1; the next one up if it would show >= 1000."""
    magnitude = abs(value)
    chosen = units[0]
    for scale, suffix in units:
        if magnitude >= scale:
            chosen = (scale, suffix)
    index = units.index(chosen)
    text = significant(value / chosen[0], digits)
    nxt = units[index + 1] if index + 1 < len(units) else None
    if nxt is not None and abs(float(text.replace(",", ""))) >= 1000:
        text, chosen = significant(value / nxt[0], digits), nxt  # 999.96 µs -> 1.00 ms
    return f"{text} {chosen[1]}".rstrip()


def format_seconds(seconds: float | None, *, digits: int = 3) -> str:
    """A duration with three significant figures; minutes above 100 s.

    >>> format_seconds(0.0013125), format_seconds(2.0), format_seconds(4.2e-5)
    ('1.31 ms', '2.00 s', '42.0 µs')
    >>> format_seconds(150.0), format_seconds(None)
    ('2.50 min', '—')
    """
    if is_missing(seconds):
        return MISSING
    assert seconds is not None
    if seconds == 0:
        return "0 s"
    if abs(seconds) >= 100:
        return f"{significant(seconds / 60, digits)} min"
    return _scaled(seconds, _TIME_UNITS, digits)


def format_seconds_spread(median: float | None, spread: float | None, *, digits: int = 3) -> str:
    """``median ± spread`` in the median's unit, the spread to the median's decimals.

    >>> format_seconds_spread(0.0013125, 0.0000523)
    '1.31 ± 0.05 ms'
    >>> format_seconds_spread(0.0013125, None), format_seconds_spread(None, 0.1)
    ('1.31 ms', '—')
    """
    text = format_seconds(median, digits=digits)
    if text == MISSING or is_missing(spread) or " " not in text:
        return text
    number, unit = text.split(" ", 1)
    scale = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}[unit]
    decimals = len(number.split(".")[1]) if "." in number else 0
    assert spread is not None
    return f"{number} ± {spread / scale:.{decimals}f} {unit}"


def format_bytes(num_bytes: float | None, *, signed: bool = False, digits: int = 3) -> str:
    """Bytes in binary units (KiB = 1024 B); ``signed`` shows a leading ``+`` for deltas.

    >>> format_bytes(19_608_000), format_bytes(512), format_bytes(1_258_291, signed=True)
    ('18.7 MiB', '512 B', '+1.20 MiB')
    >>> format_bytes(-1536, signed=True)
    '-1.50 KiB'
    """
    if is_missing(num_bytes):
        return MISSING
    assert num_bytes is not None
    if num_bytes == 0:
        return "+0 B" if signed else "0 B"
    if abs(num_bytes) < 1024 and float(num_bytes).is_integer():
        text = f"{int(num_bytes)} B"
    else:
        text = _scaled(float(num_bytes), _BYTE_UNITS, digits)
    return f"+{text}" if signed and num_bytes > 0 else text


def format_flops(flops: float | None, *, digits: int = 3) -> str:
    """A FLOP count with an SI prefix.

    >>> format_flops(4_718_592), format_flops(800), format_flops(None)
    ('4.72 MFLOP', '800 FLOP', '—')
    """
    if is_missing(flops):
        return MISSING
    assert flops is not None
    if flops == 0:
        return "0 FLOP"
    return _with_prefix(float(flops), "FLOP", digits)


def format_flops_rate(flops_per_s: float | None, *, digits: int = 3) -> str:
    """FLOP/s with an SI prefix.

    >>> format_flops_rate(2.4e9), format_flops_rate(1.1e11)
    ('2.40 GFLOP/s', '110 GFLOP/s')
    """
    if is_missing(flops_per_s):
        return MISSING
    assert flops_per_s is not None
    if flops_per_s == 0:
        return "0 FLOP/s"
    return _with_prefix(float(flops_per_s), "FLOP/s", digits)


def _with_prefix(value: float, unit: str, digits: int) -> str:
    number, prefix = _scaled(value, _SI_PREFIXES, digits).partition(" ")[::2]
    return f"{number} {prefix}{unit}"


def format_count(count: float | None) -> str:
    """An exact count with thousands separators.

    >>> format_count(31137), format_count(7), format_count(None)
    ('31,137', '7', '—')
    """
    if is_missing(count):
        return MISSING
    assert count is not None
    return f"{int(round(count)):,}"


def format_percent(fraction: float | None, *, digits: int = 3) -> str:
    """A fraction (0.123) as a percentage with three significant figures.

    >>> format_percent(0.123), format_percent(1.0), format_percent(0.004567)
    ('12.3%', '100%', '0.457%')
    """
    if is_missing(fraction):
        return MISSING
    assert fraction is not None
    return f"{significant(100.0 * fraction, digits)}%"


def format_ratio(ratio: float | None, *, digits: int = 2) -> str:
    """A multiplicative factor with two significant figures.

    >>> format_ratio(3.6), format_ratio(0.8523), format_ratio(12.4)
    ('3.6×', '0.85×', '12×')
    """
    if is_missing(ratio):
        return MISSING
    assert ratio is not None
    return f"{significant(float(ratio), digits)}×"


def format_number(value: float | None, *, digits: int = 3) -> str:
    """A plain number with three significant figures (metrics, losses, exponents).

    >>> format_number(0.91234), format_number(-0.0456), format_number(3)
    ('0.912', '-0.0456', '3.00')
    """
    if is_missing(value):
        return MISSING
    assert value is not None
    return significant(float(value), digits)


def format_mean_std(mean: float | None, std: float | None, *, digits: int = 3) -> str:
    """``mean ± std`` with the std to the mean's decimals; no ``±`` for a single value.

    >>> format_mean_std(0.91234, 0.0131), format_mean_std(0.5, None)
    ('0.912 ± 0.013', '0.500')
    """
    text = format_number(mean, digits=digits)
    if text == MISSING or is_missing(std):
        return text
    assert std is not None
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{text} ± {std:.{decimals}f}"


def format_scientific(value: float | None, *, digits: int = 3) -> str:
    """A number in scientific notation, for power-law prefactors and tiny differences.

    >>> format_scientific(2.134e-7), format_scientific(0.0)
    ('2.13e-07', '0')
    """
    if is_missing(value):
        return MISSING
    assert value is not None
    if value == 0:
        return "0"
    return f"{value:.{digits - 1}e}"


def format_p_value(p_value: float | None) -> str:
    """A p-value with two significant figures, floored at ``<1e-6``.

    >>> format_p_value(0.0079365), format_p_value(1e-9), format_p_value(0.5)
    ('0.0079', '<1e-6', '0.50')
    """
    if is_missing(p_value):
        return MISSING
    assert p_value is not None
    if p_value < 1e-6:
        return "<1e-6"
    return significant(p_value, 2)
