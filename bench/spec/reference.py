"""The reference workload: fixed cells measured beside a run's cells, in every sweep.

Two runs of one commit on this VM differed by 12% in every cell at once (two quick runs
20 minutes apart): the machine's speed, not the code. Within one run the moment model
(`bench.results.moments`) takes the machine's wander out, using the other cells measured
at the same moments; between runs nothing in the user's matrix can serve, because a real
change (a new commit, a heavier block) may move every cell of it. So each run also
measures a workload that no change to ``blocks/`` or to a config can touch: a fixed
model of plain Keras layers (`bench.measure.reference_model`), in a forward and a train
cell, sampled in every sweep of every round, in the same worker as the cells around it.
`bench.results.reference` turns its samples into the machine's speed at each round, and
``compare`` gives a cell's B/A relative to the reference's B/A measured alongside.

The reference cells are ordinary timing cells of the run (stored, exported, listed by
``blockbench list``), marked by their block name; reports keep them out of the block
families and show them under the machine's state. ``[run] reference = false`` leaves
them out.

>>> from bench.spec.cell import Cell
>>> cells = [Cell("dense", (("units", 8),), (4,), 2, "train")]
>>> [(c.block, c.pass_) for c in reference_cells(cells)]
[('reference', 'forward'), ('reference', 'train')]
>>> is_reference(reference_cells(cells)[0]), is_reference(cells[0])
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.spec.cell import TIMING_PASSES, Cell

BLOCK = "reference"  # the reserved block name; a matrix may not use it
VERSION = 1  # bump when the workload changes: runs compare against it only when equal
INPUT_SHAPE = (16, 16, 8)
BATCH_SIZE = 32
PASSES = ("forward", "train")


def reference_cells(cells: Iterable[Cell]) -> list[Cell]:
    """The reference cells for a run's timing cells: both passes, XLA off, on every
    backend and device the timing cells use."""
    places = sorted({(c.backend, c.device) for c in cells if c.pass_ in TIMING_PASSES})
    return [
        Cell(
            BLOCK,
            (("version", VERSION),),
            INPUT_SHAPE,
            BATCH_SIZE,
            pass_,
            device,
            False,
            backend=backend,
        )  # fmt: skip
        for backend, device in places
        for pass_ in PASSES
    ]


def is_reference(cell: Cell) -> bool:
    """Whether ``cell`` is one of the reference workload's cells."""
    return cell.block == BLOCK
