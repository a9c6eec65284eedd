"""Every public function of `blocks` shows an example (pytest's --doctest-modules runs
them all)."""

import importlib
import pkgutil

import blocks

MODULES = ["blocks"] + [f"blocks.{m.name}" for m in pkgutil.iter_modules(blocks.__path__)]


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
