"""Stored results: typed records (`records`), statistics derived from raw samples
(`stats`), the SQLite store (`store`), flat rows (`rows`) and exports (`export`).

The layer everything above reads and writes. May import: ``bench.spec``. No TensorFlow,
no Keras: reports, exports and merges run without the ML stack.
"""
