# ruff: noqa: E501  (literal markdown tables are wider than the line limit)
"""Report sections rendered from the fixture store, against literal markdown."""

from pathlib import Path

import pandas as pd
import pytest

from bench.results.records import CellResult, FitResult
from bench.results.store import Store
from bench.spec.cell import Cell, FitSettings
from reports.environment import environment_section
from reports.families import Family, families
from reports.frames import load_run
from reports.problems import failed_section, fallback_section, noisy_section
from reports.summary import family_summary, summary_section
from reports.tables import (
    SECTION_NOTE,
    TRAINING_NOTE,
    family_section,
    step_time_table,
    throughput_table,
    training_table,
    xla_table,
)
from tests.records import timing_result


@pytest.fixture
def by_name(fixture_store: Store) -> dict[str, Family]:
    return {family.name: family for family in families(load_run(fixture_store, "r1"))}


def test_families_with_results_only(by_name) -> None:
    # The skipped GPU cell neither makes a "dense (gpu)" family nor renames "dense".
    assert sorted(by_name) == ["conv", "dense", "lstm"]


def test_batch_size_is_the_largest_measured_for_every_capacity(by_name) -> None:
    dense = by_name["dense"]
    assert (dense.batch_size, dense.batch_sizes) == (32, (32, 128))
    assert dense.capacities == ('{"units": 16}', '{"units": 32}', '{"units": 64}')
    assert by_name["conv"].knob_names == ("depth", "filters")


def test_step_time_table(by_name) -> None:
    assert step_time_table(by_name["dense"]) == (
        "| units   |   params |   FLOPs/example |    forward |   forward XLA |          train |   train XLA |\n"
        "|---------|----------|-----------------|------------|---------------|----------------|-------------|\n"
        "| 16      |    1,040 |      2.05 kFLOP | 100 ± 2 µs | 66.7 ± 1.3 µs |     300 ± 6 µs |  200 ± 4 µs |\n"
        "| 32      |    2,080 |      4.10 kFLOP | 200 ± 4 µs |    133 ± 3 µs |    600 ± 12 µs |  400 ± 8 µs |\n"
        "| 64      |    4,160 |      8.19 kFLOP | 400 ± 8 µs |    267 ± 5 µs | 1.20 ± 0.02 ms | 800 ± 16 µs |"
    )  # fmt: skip


def test_xla_table_flags_a_large_difference(by_name) -> None:
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in xla_table(by_name["dense"]).splitlines()
    ]
    assert rows[0][-4:] == ["XLA speedup forward", "XLA speedup train", "max abs diff", "check"]
    assert rows[0][1:5] == [
        "compile forward",
        "compile forward XLA",
        "compile train",
        "compile train XLA",
    ]
    assert rows[2] == [
        "16",
        "250 ms",
        "2.00 s",
        "250 ms",
        "2.00 s",
        "1.5×",
        "1.5×",
        "2.00e-06",
        "✓",
    ]
    assert rows[4][-2:] == ["5.00e-03", "✗"]


def test_training_table_over_seeds(by_name) -> None:
    assert training_table(by_name["dense"]) == TRAINING_NOTE + "\n\n" + (
        "| units   | data                  |   seeds |   params |   train accuracy |   val accuracy |   test accuracy |           gap |   onset epoch |\n"
        "|---------|-----------------------|---------|----------|------------------|----------------|-----------------|---------------|---------------|\n"
        "| 16      | digits                |       2 |    1,040 |    0.985 ± 0.007 |  0.910 ± 0.014 |   0.900 ± 0.014 | 0.105 ± 0.007 |  2.0 (1 of 2) |\n"
        "| 16      | digits, random labels |       1 |    1,040 |            0.990 |          0.100 |          0.0900 |          1.50 |           1.0 |\n"
        "| 32      | digits                |       2 |    2,080 |    0.985 ± 0.007 |  0.950 ± 0.014 |   0.940 ± 0.014 | 0.205 ± 0.007 |  2.0 (1 of 2) |"
    )  # fmt: skip


def test_family_section_with_missing_data(by_name) -> None:
    # lstm: no memory, no fit cells, the XLA forward cell skipped: those columns go.
    assert family_section(by_name["lstm"]) == (
        "### lstm\n\n"
        "Batch size 32: the largest batch size measured for every capacity.\n\n"
        "#### Step time\n\n"
        "| units   |   params |   FLOPs/example |          train |      train XLA |\n"
        "|---------|----------|-----------------|----------------|----------------|\n"
        "| 8       |      416 |      8.00 kFLOP | 2.00 ± 0.04 ms | 1.00 ± 0.02 ms |\n\n"
        "#### Spread of the train step time\n\n"
        "| units   |   within (no XLA) |   between (no XLA) |   rounds (no XLA) |   within (XLA) |   between (XLA) |   rounds (XLA) |\n"
        "|---------|-------------------|--------------------|-------------------|----------------|-----------------|----------------|\n"
        "| 8       |             2.00% |                 0% |                 1 |          2.00% |              0% |              1 |\n\n"
        "#### Throughput (train step)\n\n"
        "| units   |   samples/s |   samples/s XLA |    achieved |   achieved XLA |   % of peak |   % of peak XLA |\n"
        "|---------|-------------|-----------------|-------------|----------------|-------------|-----------------|\n"
        "| 8       |      16,000 |          32,000 | 384 MFLOP/s |    768 MFLOP/s |      0.349% |          0.698% |\n\n"
        "The Keras fit() step was not measured in this run (`fit_step = false` in its config, or the measurement failed: see Problems).\n\n"
        "#### XLA\n\n"
        "| units   |   compile train |   compile train XLA |   XLA speedup train |\n"
        "|---------|-----------------|---------------------|---------------------|\n"
        "| 8       |          500 ms |              500 ms |                2.0× |"
    )  # fmt: skip


def test_failed_and_skipped_cells_with_reasons(fixture_store: Store) -> None:
    cells = load_run(fixture_store, "r1").cells
    assert failed_section(cells) == (
        "| cell                                  | status   | reason                                             |\n"
        "|---------------------------------------|----------|----------------------------------------------------|\n"
        "| conv depth=2 filters=16 b32 train cpu | failed   | ResourceExhaustedError: OOM when allocating tensor |\n"
        "| dense units=32 b32 train gpu          | skipped  | no GPU visible                                     |\n"
        "| lstm units=8 b32 forward cpu xla      | skipped  | cuDNN LSTM kernels are not XLA-compilable          |"
    )  # fmt: skip


def test_reasons_show_their_first_line_cut_with_an_ellipsis() -> None:
    cells = pd.DataFrame(
        {
            "status": ["failed", "failed", "skipped"],
            "label": ["a", "b", "c"],
            "reason": ["\n  boom\nTraceback ...", "x" * 300, None],
        }
    )
    rows = [
        [c.strip() for c in line.split("|")[1:-1]] for line in failed_section(cells).splitlines()
    ]
    assert [row[2] for row in rows[2:]] == ["boom", "x" * 159 + "…", "—"]


def test_noisy_cells_and_xla_fallbacks(fixture_store: Store) -> None:
    cells = load_run(fixture_store, "r1").cells
    assert noisy_section(cells).splitlines()[-1] == (
        "| conv depth=2 filters=8 b32 train cpu |  2.00 ms |   ±25.0% |    30.0% |        0% |        1 |"
    )
    assert fallback_section(cells).splitlines()[-1] == (
        "| lstm units=8 b32 train cpu xla | cuDNN LSTM is not XLA-compilable; ran the non-cuDNN path |"
    )


def test_summary_sentences_from_adjacent_capacities(by_name) -> None:
    # depth=2 filters=8 is noisy: the sentence using its median says so; the next does not.
    assert family_summary(by_name["conv"]) == (
        "doubling depth 1→2 multiplies params by 2.0×, FLOPs by 2.0× and train step time by "
        "2.0× (XLA off, batch 32; noisy (see Problems): depth=2 filters=8); peak "
        "memory +1.00 MiB. Doubling filters 8→16 multiplies "
        "params by 4.0×, FLOPs by 4.0× and train step time by 2.0× (XLA off, batch 32); peak "
        "memory +1.00 MiB."
    )
    assert family_summary(by_name["dense"]) == (
        "doubling units 16→32 multiplies params by 2.0×, FLOPs by 2.0× and train step time by "
        "2.0× (XLA off, batch 32); peak memory +1.00 MiB; validation accuracy 0.910→0.950. "
        "Over units 16→64 (2 steps) it multiplies params by 4.0×, FLOPs by 4.0× and train step "
        "time by 4.0× (XLA off, batch 32); peak memory +3.00 MiB."
    )
    assert summary_section([by_name["lstm"]]) == (
        "- **lstm**: one capacity (units=8); nothing to compare."
    )


def test_environment_section(fixture_store: Store) -> None:
    data = load_run(fixture_store, "r1")
    assert environment_section(data.run.env, data.probes) == (
        "| setting       | value                                                                         |\n"
        "|---------------|-------------------------------------------------------------------------------|\n"
        "| CPU           | AMD EPYC 7B13, 2 cores                                                        |\n"
        "| threads       | intra-op 2, inter-op 1                                                        |\n"
        "| GPU           | none                                                                          |\n"
        "| OS            | Linux-6.1                                                                     |\n"
        "| versions      | Python 3.11.7, TensorFlow 2.21.0, Keras 3.15.1, NumPy 2.4.6, blockbench 0.1.0 |\n"
        "| commit        | 0123456789ab (dirty)                                                          |\n"
        "| host          | bench-1                                                                       |\n"
        "| CPU allocator | BFC (TF_CPU_ALLOCATOR_USE_BFC=true)                                           |\n"
        "| peak FLOP/s   | cpu: 110 GFLOP/s                                                              |"
    )  # fmt: skip


def _timed(params: int, median_s: float, keras_step_s: float | None) -> CellResult:
    timing = timing_result(
        params=params, params_trainable=params, flops=100, flops_per_step=3200, build_s=0.0,
        compile_s=0.1, steps_per_sample=10, samples_s=(median_s,) * 5, fit_step_s=keras_step_s,
    )  # fmt: skip
    return CellResult("ok", timing=timing)


def _fitted(params: int, val: float) -> CellResult:
    fit = FitResult(
        params=params, metric="accuracy", epochs_run=2,
        curves={"train_loss": [1.0, 0.5], "val_loss": [1.0, 0.6], "train_metric": [0.5, 0.9]},
        final_val_metric=val, best_val_metric=val, best_epoch=2, test_metric=val,
        gap_end=0.1, gap_best=0.1, onset_epoch=None, memorisation=None, fit_wall_s=1.0,
    )  # fmt: skip
    return CellResult("ok", fit=fit)


@pytest.fixture
def odd_families(tmp_path: Path) -> dict[str, Family]:
    """``mlp``: forward only, with a Keras predict() step; ``gru``: train without a fit()
    step but forward with one, and fit cells with and without XLA at two batch sizes."""
    with Store(tmp_path / "blockbench.sqlite") as store:
        store.create_run("o", name="o", config_hash="h", config={}, env={}, total_cells=9)
        for xla in (False, True):
            mlp = Cell("mlp", (("units", 4),), (3,), 32, "forward", xla=xla)
            store.record("o", mlp, _timed(20, 1e-4, 5e-4))
            for pass_, keras in (("forward", 7e-4), ("train", None)):
                gru = Cell("gru", (("units", 8),), (5, 3), 32, pass_, xla=xla)
                store.record("o", gru, _timed(312, 1e-3, keras))
        for batch, xla, val in ((32, False, 0.8), (32, True, 0.82), (64, False, 0.7)):
            for seed in (0, 1):
                settings = FitSettings("digits", epochs=2, seed=seed)
                gru = Cell("gru", (("units", 8),), (5, 3), batch, "fit", xla=xla, fit=settings)
                store.record("o", gru, _fitted(402, val))  # its own head: not 312
        return {family.name: family for family in families(load_run(store, "o"))}


def test_keras_step_of_a_forward_family_is_predict(odd_families) -> None:
    header = throughput_table(odd_families["mlp"]).splitlines()[0]
    cells = [cell.strip() for cell in header.split("|")[1:-1]]
    assert cells[-2:] == ["Keras predict() step", "Keras predict() step XLA"]
    assert "fit()" not in header
    assert "`model.predict`" in SECTION_NOTE and "`model.fit`" in SECTION_NOTE


def test_keras_fit_step_never_shows_a_predict_time(odd_families) -> None:
    # gru's train cells have no fit() step; its forward cells' predict() step is not one.
    text = throughput_table(odd_families["gru"])
    rendered, note = text.split("\n\n")
    assert "Keras" not in rendered and "700 µs" not in text
    assert note.startswith("The Keras fit() step was not measured in this run")


def test_training_table_shows_xla_and_batch_when_they_vary(odd_families) -> None:
    text = training_table(odd_families["gru"])
    assert text.split("\n\n")[0] == TRAINING_NOTE
    assert "running train loss (Keras history)" in TRAINING_NOTE
    assert "at the final epoch (inference mode" in TRAINING_NOTE
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines()[2:]]
    assert rows[0][:6] == ["units", "data", "batch", "XLA", "seeds", "params"]
    assert [row[:6] for row in rows[2:]] == [
        ["8", "digits", "32", "off", "2", "402"],
        ["8", "digits", "32", "on", "2", "402"],
        ["8", "digits", "64", "off", "2", "402"],
    ]
