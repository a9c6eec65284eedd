"""User tools beside the benchmark: serving a run's profiles in TensorBoard
(`tensorboard`).

May import: ``bench.results``. No TensorFlow.
"""
