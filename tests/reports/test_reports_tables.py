# ruff: noqa: E501  (literal markdown tables are wider than the line limit)
"""Report sections rendered from the fixture store, against literal markdown."""

import pytest

from bench.store import Store
from reports.environment import environment_section
from reports.families import Family, families
from reports.frames import load_run
from reports.problems import failed_section, fallback_section, noisy_section
from reports.summary import family_summary, summary_section
from reports.tables import family_section, step_time_table, training_table, xla_table


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
    assert training_table(by_name["dense"]) == (
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
        "#### Throughput (train step)\n\n"
        "| units   |   samples/s |   samples/s XLA |    achieved |   achieved XLA |   % of peak |   % of peak XLA |\n"
        "|---------|-------------|-----------------|-------------|----------------|-------------|-----------------|\n"
        "| 8       |      16,000 |          32,000 | 384 MFLOP/s |    768 MFLOP/s |      0.349% |          0.698% |\n\n"
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


def test_noisy_cells_and_xla_fallbacks(fixture_store: Store) -> None:
    cells = load_run(fixture_store, "r1").cells
    assert noisy_section(cells).splitlines()[-1] == (
        "| conv depth=2 filters=8 b32 train cpu |  2.00 ms |        30.0% |         5 |"
    )
    assert fallback_section(cells).splitlines()[-1] == (
        "| lstm units=8 b32 train cpu xla | cuDNN LSTM is not XLA-compilable; ran the non-cuDNN path |"
    )


def test_summary_sentences_from_adjacent_capacities(by_name) -> None:
    assert family_summary(by_name["conv"]) == (
        "doubling depth 1→2 multiplies params by 2.0×, FLOPs by 2.0× and train step time by "
        "2.0× (XLA off, batch 32); peak memory +1.00 MiB. Doubling filters 8→16 multiplies "
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
