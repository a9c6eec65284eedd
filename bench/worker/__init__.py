"""The worker process (``python -m bench.worker``): imports one Keras backend once, then runs
the cells the runner sends (`execute`), answering on a private JSON-lines channel.

May import: everything below it (``spec``, ``data``, ``results``, ``measure``, ``fit``).
Nothing imports the worker; the runner starts it as a process.
"""
