"""``python -m blockbench``: the command line."""

from blockbench.cli import main

raise SystemExit(main())
