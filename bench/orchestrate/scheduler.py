"""Which shard of a run this process is: from ``--shard``, or from the job scheduler.

Job arrays need no glue code: when ``--shard`` is not given, the shard comes from the
scheduler's own variables.

- **Slurm** job arrays (``sbatch --array=1-8``): ``SLURM_ARRAY_TASK_ID``, and the count
  from ``SLURM_ARRAY_TASK_COUNT`` or from ``SLURM_ARRAY_TASK_MIN``/``SLURM_ARRAY_TASK_MAX``
  (shard = task id - min + 1, count = max - min + 1; ``--array=0-7`` works too). The
  run id defaults to ``slurm-<SLURM_ARRAY_JOB_ID>``, shared by every task of the array.
- **Kubernetes** Indexed Jobs (``completionMode: Indexed``): ``JOB_COMPLETION_INDEX``
  (0-based), and the count from ``BLOCKBENCH_SHARD_COUNT``, which the manifest sets to the
  Job's ``completions`` (Kubernetes exports no count of its own). The run id comes from
  ``BLOCKBENCH_RUN_ID`` (the manifest sets it from the Job's name).

``BLOCKBENCH_RUN_ID`` names the run under any scheduler. A ``--shard`` that disagrees
with the scheduler's variables is an error, not a silent choice.

>>> detect({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1",
...         "SLURM_ARRAY_TASK_MAX": "4", "SLURM_ARRAY_JOB_ID": "991"})
Assignment(index=3, count=4, source='slurm', run_id='slurm-991')
>>> detect({"JOB_COMPLETION_INDEX": "0", "BLOCKBENCH_SHARD_COUNT": "3",
...         "BLOCKBENCH_RUN_ID": "nightly"})
Assignment(index=1, count=3, source='kubernetes', run_id='nightly')
>>> detect({}) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

COUNT_VARIABLE = "BLOCKBENCH_SHARD_COUNT"
RUN_ID_VARIABLE = "BLOCKBENCH_RUN_ID"


class ShardError(ValueError):
    """The shard cannot be determined, or two sources of it disagree."""


@dataclass(frozen=True)
class Assignment:
    """Shard ``index`` (1-based) of ``count``, where it came from, and the run id the
    scheduler implies (``None``: none)."""

    index: int
    count: int
    source: str
    run_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def detect(env: Mapping[str, str]) -> Assignment | None:
    """The shard the scheduler's variables give, or ``None`` outside a job array."""
    run_id = env.get(RUN_ID_VARIABLE) or None
    if "SLURM_ARRAY_TASK_ID" in env:
        task = _integer(env, "SLURM_ARRAY_TASK_ID")
        low = _integer(env, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else None
        if "SLURM_ARRAY_TASK_COUNT" in env:
            count = _integer(env, "SLURM_ARRAY_TASK_COUNT")
            low = 1 if low is None else low
        elif low is not None and "SLURM_ARRAY_TASK_MAX" in env:
            count = _integer(env, "SLURM_ARRAY_TASK_MAX") - low + 1
        else:
            raise ShardError(
                "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
                "SLURM_ARRAY_TASK_MIN/MAX is: cannot tell how many shards there are"
            )
        if "SLURM_ARRAY_JOB_ID" in env and run_id is None:
            run_id = f"slurm-{env['SLURM_ARRAY_JOB_ID']}"
        return _checked(Assignment(task - low + 1, count, "slurm", run_id), env)
    if "JOB_COMPLETION_INDEX" in env:
        if COUNT_VARIABLE not in env:
            raise ShardError(
                f"JOB_COMPLETION_INDEX is set but {COUNT_VARIABLE} is not: set it to the "
                "Job's completions in the manifest (see docs/scale-out.md)"
            )
        index = _integer(env, "JOB_COMPLETION_INDEX") + 1
        return _checked(Assignment(index, _integer(env, COUNT_VARIABLE), "kubernetes", run_id), env)
    return None


def resolve(given: tuple[int, int] | None, env: Mapping[str, str]) -> Assignment | None:
    """The shard to run: ``--shard`` if given (checked against the scheduler), else the
    scheduler's; ``None`` for an unsharded run.

    >>> resolve((2, 4), {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}).label
    '2/4'
    >>> resolve((1, 4), {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"})
    Traceback (most recent call last):
    ...
    bench.orchestrate.scheduler.ShardError: --shard 1/4 disagrees with the slurm job array, ...
    """
    found = detect(env)
    if given is None:
        return found
    index, count = given
    if found is not None and (found.index, found.count) != (index, count):
        raise ShardError(
            f"--shard {index}/{count} disagrees with the {found.source} job array, which makes "
            f"this shard {found.label} ({_names(found.source)}); drop --shard or fix it"
        )
    run_id = found.run_id if found else env.get(RUN_ID_VARIABLE) or None
    return Assignment(index, count, found.source if found else "--shard", run_id)


def _names(source: str) -> str:
    return {"slurm": "SLURM_ARRAY_TASK_ID and friends",
            "kubernetes": f"JOB_COMPLETION_INDEX and {COUNT_VARIABLE}"}[source]  # fmt: skip


def _integer(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ShardError(f"{name}={env[name]!r}: expected an integer") from None


def _checked(found: Assignment, env: Mapping[str, str]) -> Assignment:
    if found.count < 1 or not 1 <= found.index <= found.count:
        raise ShardError(
            f"the {found.source} variables give shard {found.label}, which is not between 1 "
            f"and the count ({_names(found.source)})"
        )
    return found
