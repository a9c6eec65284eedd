"""What to measure: a cell of the matrix (`cell`), configs and presets that expand into
cells (`config`, `presets/`), and plugin blocks (`plugins`).

May import: ``blocks`` and ``bench.data`` (to validate fit cells). No TensorFlow.
"""
