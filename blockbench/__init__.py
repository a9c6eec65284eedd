"""The ``blockbench`` command line: the top layer, above ``bench`` and ``reports``.

It is the one place that imports both the measuring side (``bench``) and the report side
(``reports``); nothing imports it. Run it as ``blockbench ...`` (the installed script) or
``python -m blockbench ...``.
"""
