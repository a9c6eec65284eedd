"""Fit settings in a config: stopping rules and their errors, before anything trains."""

import pytest

from bench.spec.config import ConfigError, loads

BASE = """
[[matrix]]
block = "dense"
pass = "fit"
units = 8
dataset = "digits"
batch_size = 64
"""


def test_until_interpolation_uses_max_epochs():
    spec = loads(BASE + 'until = "interpolation"\nmax_epochs = 50\nepsilon = 0.05\n')
    (cell,) = spec.cells
    assert (cell.fit.until, cell.fit.epochs, cell.fit.epsilon) == ("interpolation", 50, 0.05)
    assert loads(BASE).cells[0].fit.until == "epochs"


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            'until = "interpolation"\nmax_epochs = 5\nepsilon = 0',
            r"epsilon = 0: expected a fraction in \(0, 1\)",
        ),
        (
            'until = "interpolation"\nmax_epochs = 5\nepsilon = 1.0',
            r"epsilon = 1.0: expected a fraction",
        ),
        ('until = "interpolation"\nmax_epochs = 0', r"max_epochs = 0: expected a positive integer"),
        ('until = "interpolation"', r"max_epochs: required"),
        ('until = "forever"', r"until = 'forever': expected one of \['epochs', 'interpolation'\]"),
        ("max_epochs = 5", r'max_epochs: only with until = "interpolation"'),
        ('until = "interpolation"\nmax_epochs = 5\nepochs = 3', r"set its cap with max_epochs"),
    ],
)
def test_bad_stopping_rules_are_config_errors(extra, message):
    with pytest.raises(ConfigError, match=message):
        loads(BASE + extra + "\n", source="bad.toml")
