"""Tests here load the fault plugin, which registers a block in the process-wide
``blocks.BLOCKS``; each module gets the registry (and the plugin modules) back as it
found them, so a later module loads the plugin afresh."""

import sys

import pytest

from bench.spec.plugins import MODULE_PREFIX


@pytest.fixture(scope="module", autouse=True)
def restore_block_registry():
    import blocks

    before = dict(blocks.BLOCKS)
    modules = {name for name in sys.modules if name.startswith(MODULE_PREFIX)}
    yield
    blocks.BLOCKS.clear()
    blocks.BLOCKS.update(before)
    for name in [n for n in sys.modules if n.startswith(MODULE_PREFIX) and n not in modules]:
        del sys.modules[name]
