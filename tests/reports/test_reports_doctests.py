"""The examples in the reports modules' docstrings run and hold."""

import doctest
import importlib

import pytest

MODULES = [
    "units", "scaling", "markdown", "frames", "families", "tables", "summary", "environment",
    "laws", "problems", "plots", "significance", "compare", "report",
]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"reports.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
