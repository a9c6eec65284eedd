"""The markdown report of one run, with its plots, read from the results store only.

Sections, in order: summary, environment, one set of tables per block family, scaling
laws, plots, where the run's time went, and problems (failed and skipped cells, noisy
cells, XLA fallbacks).

Example (``blockbench report`` does this)::

    from bench.results.store import Store, store_path
    from reports.report import write_report
    path = write_report(Store(store_path("results")), "20250101-abcdef", "results")
    # -> results/20250101-abcdef/report.md, plots beside it
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bench.results.store import RunInfo, Store
from reports.backends import backend_section
from reports.environment import environment_section
from reports.families import families as family_views
from reports.frames import RunData, load_run, open_store
from reports.glance import glance_section
from reports.laws import overhead_section, scaling_section
from reports.machine import MachineVerdict, machine_section
from reports.overfitting import records as overfitting_records
from reports.overfitting import section as overfitting_section
from reports.plots import write_plots
from reports.problems import problems_section
from reports.profiles import profiles_section
from reports.summary import summary_section
from reports.tables import SECTION_NOTE, family_section
from reports.time_budget import time_budget_section

REPORT_FILENAME = "report.md"


def write_report(
    store: Store | str | Path, run_id: str, out_dir: str | Path, *, folder: str | Path | None = None
) -> Path:
    """Write ``<out_dir>/<run_id>/report.md`` and its PNG plots; return the report's path.

    ``folder`` writes the report and plots straight into that folder instead (the
    committed sample report under ``docs/`` is made this way).

    ``store`` is an open :class:`~bench.results.store.Store` or the path of a store file; ``run_id``
    may be a unique prefix (the folder uses the full id).

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> store = Store(os.path.join(folder, "blockbench.sqlite"))
    >>> store.create_run("r1", name="empty", config_hash="h", config={}, env={}, total_cells=0)
    >>> write_report(store, "r1", folder).relative_to(folder).as_posix()
    'r1/report.md'
    """
    opened = open_store(store)
    try:
        data = load_run(opened, run_id)
    finally:
        if opened is not store:
            opened.close()
    folder = Path(folder) if folder is not None else Path(out_dir) / data.run.run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_FILENAME
    path.write_text(render_report(data, folder, out_dir=out_dir), encoding="utf-8")
    return path


def render_report(data: RunData, plot_dir: Path, *, out_dir: str | Path | None = None) -> str:
    """The report's markdown; plots are written into ``plot_dir`` (linked relatively).
    ``out_dir`` is the output folder the run's store lives in, for the commands shown."""
    views = family_views(data)
    plots = write_plots(data, views, plot_dir)
    sections = [
        f"# blockbench report: {data.run.name}",
        run_line(data.run, data),
        *_busy_warning(data),
        "## At a glance",
        glance_section(views),
        "## Summary",
        summary_section(views),
        "## Machine state",
        machine_section(data.canaries, data.moments, data.references),
        "## Environment",
        environment_section(data.run.env, data.probes),
        *_backends(data),
        "## Results by block family",
        SECTION_NOTE,
        *[family_section(view) for view in views],
        "## Step time = overhead + FLOPs ÷ throughput",
        overhead_section(views),
        "## Scaling laws",
        scaling_section(views),
        *_overfitting(data),
        *_profiles(data, out_dir),
        "## Plots",
        *[f"### {plot.title}\n\n{plot.markdown()}" for plot in plots],
        *_time_budget(data),
        "## Problems",
        problems_section(data.cells),
    ]
    return "\n\n".join(sections) + "\n"


def _overfitting(data: RunData) -> list[str]:
    """The overfitting study's section, when the run has fit cells."""
    if data.fits.empty:
        return []
    results = {item.cell.cell_id: item.result.fit for item in data.stored if item.result.fit}
    return ["## Overfitting study", overfitting_section(overfitting_records(data.fits, results))]


def _time_budget(data: RunData) -> list[str]:
    """Where the run's wall time went, when it has a budget (every loaded run has)."""
    return ["## Where the time went", time_budget_section(data.budget)] if data.budget else []


def _backends(data: RunData) -> list[str]:
    """The backend comparison, when the run timed cells on more than one backend."""
    text = backend_section(data.stored)
    return ["## Backends compared", text] if text else []


def _profiles(data: RunData, out_dir: str | Path | None) -> list[str]:
    """The profiled cells' section (top ops, allocations, the TensorBoard command)."""
    default = out_dir is None or Path(out_dir).resolve() == Path("results").resolve()
    text = profiles_section(data, out_dir=None if default else str(out_dir))
    return [text.rstrip()] if text else []


def _busy_warning(data: RunData) -> list[str]:
    """The machine-busy sentence, at the top of the report when the machine was busy."""
    verdict = MachineVerdict.from_canaries(data.canaries)
    return [f"> {verdict.sentence()}"] if verdict.busy else []


def run_line(run: RunInfo, data: RunData) -> str:
    """Run id, progress and status counts, start time (UTC)."""
    counts = data.cells["status"].value_counts().to_dict() if len(data.cells) else {}
    statuses = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "failed", "skipped"))
    started = dt.datetime.fromtimestamp(run.created_at, tz=dt.timezone.utc)
    state = "finished" if run.finished_at is not None else "unfinished"
    if data.references:
        measured = sum(r.result.status == "ok" for r in data.references)
        statuses += (f"; and {len(data.references)} of the reference workload, "
                     f"{measured} measured")  # fmt: skip
    return (
        f"Run `{run.run_id}`: {run.done_cells} of {run.total_cells} cells done ({statuses}); "
        f"started {started:%Y-%m-%d %H:%M} UTC, {state}."
    )
