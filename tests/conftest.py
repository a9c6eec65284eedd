"""Test-wide setup. The CPU BFC allocator must be chosen before TensorFlow is imported,
so allocator peaks are measurable in-process (workers set the same variable)."""

import os

os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Plugin modules register blocks when imported: only the tests that want them load them.
collect_ignore = ["plugins"]
