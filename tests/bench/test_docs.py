"""Every docstring example in the engine's modules runs."""

import doctest
import importlib

import pytest

MODULES = ["bench.cell", "bench.stats", "bench.records", "bench.store", "bench.rows",
           "bench.progress", "bench.export", "bench.env", "bench.plugins", "bench.config",
           "bench.model", "bench.timing", "bench.runner"]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
