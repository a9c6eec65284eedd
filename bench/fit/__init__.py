"""The overfitting study: training a fit cell on real data (`train`) and what its curves
say (`curves`).

May import: ``blocks``, ``bench.spec``, ``bench.data``, ``bench.results``,
``bench.measure`` (the model under test). Imports TensorFlow.
"""
