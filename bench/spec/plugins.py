"""User block plugins: modules that register extra blocks into ``blocks.BLOCKS``.

``BLOCKBENCH_PLUGINS`` holds a comma-separated list of module names or ``.py`` paths.
The runner and every worker import them before reading a config, so a plugin block can
be benchmarked like a built-in one (its module adds a ``BlockSpec`` to ``blocks.BLOCKS``).

>>> load_plugins("")
[]
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

PLUGINS_VARIABLE = "BLOCKBENCH_PLUGINS"
MODULE_PREFIX = "blockbench_plugin_"  # module names given to plugins loaded from .py paths


def load_plugins(spec: str | None = None) -> list[ModuleType]:
    """Import every plugin named in ``spec`` (default: ``$BLOCKBENCH_PLUGINS``)."""
    text = os.environ.get(PLUGINS_VARIABLE, "") if spec is None else spec
    modules = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        if entry.endswith(".py"):
            path = Path(entry).resolve()
            name = f"{MODULE_PREFIX}{path.stem}"
            if name in sys.modules:
                modules.append(sys.modules[name])
                continue
            if not path.exists():
                raise ValueError(f"{PLUGINS_VARIABLE}: no such plugin file {entry!r}")
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
            modules.append(module)
        else:
            try:
                modules.append(importlib.import_module(entry))
            except ImportError as error:
                raise ValueError(f"{PLUGINS_VARIABLE}: cannot import {entry!r}: {error}") from error
    return modules
