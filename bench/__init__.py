"""blockbench's benchmarking side: from a TOML matrix to stored, comparable measurements.

Sub-packages, lowest layer first; each may import only the layers listed before it
(and ``blocks``), never one after it. ``tests/test_layering.py`` enforces this.

==============  ===========================================================  ==========
sub-package     owns                                                         TensorFlow
==============  ===========================================================  ==========
``spec``        cells, configs and presets, plugin loading                   no
``data``        bundled and generated datasets for fit cells                 no
``results``     typed records, statistics, the SQLite store, rows, exports   no
``measure``     building the model under test, timing, memory, profiles      yes
``fit``         the overfitting study's training loop and curve analysis     yes
``worker``      the worker process: runs one cell at a time                  yes
``orchestrate`` the runner (worker processes, rounds, faults), environment   no
``tools``       the TensorBoard launcher and other user tools                no
==============  ===========================================================  ==========

``reports`` (a sibling package) sits beside ``orchestrate``: it reads ``results`` and
never imports TensorFlow. The command line is the top-level ``blockbench`` package, the
only one that imports both ``bench`` and ``reports``; nothing in ``bench`` imports
``reports``.
"""
