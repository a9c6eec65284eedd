"""Measuring one model in-process: the model under test (`model`), steady-state timing
(`timing`), allocator and RSS peaks (`memory`), TensorBoard profiles (`profiling`) and
the peak-FLOP probe (`probe`).

May import: ``blocks``, ``bench.spec``, ``bench.results`` (records). Imports TensorFlow.
"""
