"""Collection rules for the whole tree: a backend adapter whose framework is not
installed here is not collected (its doctests need that framework)."""

import importlib.util

_ADAPTERS = {
    "tensorflow": "bench/measure/backends/tf_backend.py",
    "jax": "bench/measure/backends/jax_backend.py",
    "torch": "bench/measure/backends/torch_backend.py",
}
collect_ignore = [path for module, path in _ADAPTERS.items()
                  if importlib.util.find_spec(module) is None]  # fmt: skip
