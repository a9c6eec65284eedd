"""Units and significant figures, checked against literal strings."""

import math

import pytest

from reports.units import (
    MISSING,
    format_bytes,
    format_count,
    format_flops,
    format_flops_rate,
    format_mean_std,
    format_number,
    format_p_value,
    format_percent,
    format_ratio,
    format_seconds,
    format_seconds_spread,
    significant,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0013125, "1.31 ms"),
        (0.0013175, "1.32 ms"),
        (2.0, "2.00 s"),
        (0.2034, "203 ms"),
        (4.2e-5, "42.0 µs"),
        (7.5e-8, "75.0 ns"),
        (0.99996, "1.00 s"),  # rounds up into the next unit
        (0.00099996, "1.00 ms"),
        (12.345, "12.3 s"),
        (150.0, "2.50 min"),
        (0.0, "0 s"),
    ],
)
def test_format_seconds_three_significant_figures(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_format_seconds_spread_shares_the_unit_and_decimals() -> None:
    assert format_seconds_spread(0.0013125, 0.0000523) == "1.31 ± 0.05 ms"
    assert format_seconds_spread(0.000300, 0.000006) == "300 ± 6 µs"
    assert format_seconds_spread(2.0, 0.6) == "2.00 ± 0.60 s"
    assert format_seconds_spread(None, 0.1) == MISSING


@pytest.mark.parametrize(
    ("num_bytes", "text"),
    [
        (19_608_000, "18.7 MiB"),
        (512, "512 B"),
        (1024, "1.00 KiB"),
        (1000 * 1024, "0.977 MiB"),
        (3 * 2**30, "3.00 GiB"),
        (1_073_741_823, "1.00 GiB"),
        (0, "0 B"),
    ],
)
def test_format_bytes_binary_units(num_bytes: int, text: str) -> None:
    assert format_bytes(num_bytes) == text


def test_format_bytes_signed_deltas() -> None:
    assert format_bytes(1_258_291, signed=True) == "+1.20 MiB"
    assert format_bytes(-1536, signed=True) == "-1.50 KiB"
    assert format_bytes(0, signed=True) == "+0 B"


def test_flops_counts_rates_and_percentages() -> None:
    assert format_flops(4_718_592) == "4.72 MFLOP"
    assert format_flops(800) == "800 FLOP"
    assert format_flops_rate(2.4e9) == "2.40 GFLOP/s"
    assert format_flops_rate(1.65e11) == "165 GFLOP/s"
    assert format_count(31137) == "31,137"
    assert format_count(1_234_567.0) == "1,234,567"
    assert format_percent(0.123) == "12.3%"
    assert format_percent(0.004567) == "0.457%"
    assert format_ratio(3.6) == "3.6×"
    assert format_ratio(12.4) == "12×"


def test_numbers_mean_std_and_p_values() -> None:
    assert significant(12345.0) == "12,300"
    assert significant(9.996) == "10.0"
    assert format_number(0.91234) == "0.912"
    assert format_number(106_666.7) == "107,000"
    assert format_mean_std(0.91234, 0.0131) == "0.912 ± 0.013"
    assert format_mean_std(0.5, None) == "0.500"
    assert format_p_value(0.0079365) == "0.0079"
    assert format_p_value(1e-9) == "<1e-6"


@pytest.mark.parametrize(
    "formatter",
    [format_seconds, format_bytes, format_flops, format_flops_rate, format_count,
     format_percent, format_ratio, format_number, format_p_value],
)  # fmt: skip
def test_missing_values_show_a_dash(formatter) -> None:
    assert formatter(None) == MISSING
    assert formatter(math.nan) == MISSING
