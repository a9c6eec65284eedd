"""Every docstring example in the `blocks` package runs and shows what it claims."""

import doctest
import importlib
import pkgutil

import pytest

import blocks

MODULES = ["blocks"] + [f"blocks.{m.name}" for m in pkgutil.iter_modules(blocks.__path__)]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_public_function_has_an_example():
    missing = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for attribute, value in vars(module).items():
            if attribute.startswith("_") or getattr(value, "__module__", None) != module_name:
                continue
            if callable(value) and ">>>" not in (value.__doc__ or ""):
                missing.append(f"{module_name}.{attribute}")
    assert not missing
