"""Running a matrix: worker processes, fault isolation and resume (`runner`), the
environment fingerprint (`env`) and progress display (`progress`).

May import: ``bench.spec``, ``bench.results``. No TensorFlow: workers are processes.
"""
