"""Datasets for fit cells, shipped with scikit-learn or generated, never downloaded.

May import: ``blocks`` (input ranks). No TensorFlow.
"""
