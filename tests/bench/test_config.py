"""Config files: matrix expansion and every error, asserted by its message."""

import pytest

from bench.spec.config import ConfigError, RunSettings, load, loads, preset_names
from bench.spec.reference import is_reference


def expand(text):
    return loads(text, source="test.toml")


def matrix_cells(spec):
    """The cells the config's matrix lists (the reference workload's left out)."""
    return [c for c in spec.cells if not is_reference(c)]


BASE = """
[[matrix]]
block = "conv"
input_shape = [28, 28, 1]
batch_size = 32
"""


def test_list_valued_keys_are_axes_in_order():
    spec = expand(
        BASE + 'filters = [16, 32]\npass = ["forward", "train"]\nxla = [false, true]\n'
        'exclude = [{pass = "forward", xla = true}]\n'
    )
    assert [c.label for c in matrix_cells(spec)] == [
        "conv filters=16 b32 forward cpu",
        "conv filters=16 b32 train cpu",
        "conv filters=16 b32 train cpu xla",
        "conv filters=32 b32 forward cpu",
        "conv filters=32 b32 train cpu",
        "conv filters=32 b32 train cpu xla",
    ]
    assert spec.settings == RunSettings()


def test_list_of_widths_and_shapes_are_values_of_an_axis():
    spec = expand("""
[[matrix]]
block = "dense"
input_shape = [[10], [20]]
units = [[64, 32], 16]
batch_size = [8, 16]
pass = "train"
""")
    cells = matrix_cells(spec)
    assert len(cells) == 8
    assert {c.knob_dict["units"] for c in cells} == {(64, 32), 16}
    assert {c.input_shape for c in cells} == {(10,), (20,)}


def test_the_reference_workload_is_added_once_per_backend_and_device_unless_turned_off():
    matrix = BASE + 'filters = [4, 8]\ndevice = ["cpu", "gpu"]\n'
    spec = expand(matrix)
    references = [c for c in spec.cells if is_reference(c)]
    assert [(c.device, c.pass_, c.xla) for c in references] == [
        ("cpu", "forward", False), ("cpu", "train", False),
        ("gpu", "forward", False), ("gpu", "train", False),
    ]  # fmt: skip
    assert len(spec.cells) == 8 + 4
    off = expand("[run]\nreference = false\n" + matrix)
    assert not any(is_reference(c) for c in off.cells) and len(off.cells) == 8
    assert off.config_hash != spec.config_hash
    fits_only = expand(FIT.format(block="dense", knobs="units = 8", passes='"fit"',
                                  dataset="digits"))  # fmt: skip
    assert not any(is_reference(c) for c in fits_only.cells)  # nothing timed: no reference


def test_a_matrix_may_not_use_the_reference_block_name():
    with pytest.raises(ConfigError, match="'reference' is the reserved name"):
        expand('[[matrix]]\nblock = "reference"\ninput_shape = [4]\npass = "train"\n')


def test_cell_ids_are_stable_across_loads():
    first = expand(BASE + "filters = 8\n")
    second = expand(BASE + "filters = 8\n")
    assert first.cells[0].cell_id == second.cells[0].cell_id
    assert first.config_hash == second.config_hash
    assert expand(BASE + "filters = 8\n[run]\nrepeats = 9\n").config_hash != first.config_hash


def test_run_settings_are_read():
    spec = expand("[run]\nrepeats = 9\nmin_sample_s = 1\nprofile = true\n" + BASE + "filters = 4\n")
    assert spec.settings.repeats == 9 and spec.settings.min_sample_s == 1.0
    assert all(c.profile for c in matrix_cells(spec))
    assert not any(c.profile for c in spec.cells if is_reference(c))  # never profiled


FIT = (
    '[[matrix]]\nblock = "{block}"\n{knobs}\npass = {passes}\ndataset = "{dataset}"\n'
    "batch_size = 8\n"
)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            BASE + "filter = 8\n",
            r"test.toml \[\[matrix\]\] #1: unknown key 'filter'; did you mean 'filters'\?",
        ),
        (BASE + "filters = 8\nbatch = 4\n", r"unknown key 'batch'; did you mean 'batch_size'\?"),
        (
            "[run]\nrepeat = 3\n" + BASE + "filters = 8\n",
            r"test.toml \[run\]: unknown \[run\] 'repeat'; did you mean 'repeats'\?",
        ),
        (
            "[run]\nrepeats = 'five'\n" + BASE + "filters = 8\n",
            r"\[run\]: repeats = 'five': expected int",
        ),
        (
            "[run]\nrepeats = 0\n" + BASE + "filters = 8\n",
            r"repeats = 0: expected a positive number",
        ),
        (
            BASE.replace("conv", "convv") + "filters = 8\n",
            r"unknown block 'convv'; did you mean 'conv'\?",
        ),
        (BASE + "filters = 8\nxla = 'yes'\n", r"xla = 'yes': expected true or false"),
        (
            BASE + "filters = 8\npass = 'backward'\n",
            r"pass = 'backward': expected one of \['forward', 'train', 'fit'\]",
        ),
        (
            BASE + "filters = 8\ndevice = 'tpu'\n",
            r"device = 'tpu': expected one of \['cpu', 'gpu'\]",
        ),
        (
            BASE.replace("[28, 28, 1]", "[28, -1]") + "filters = 8\n",
            r"input_shape = \[28, -1\]: expected a list of positive integers",
        ),
        (
            BASE.replace("[28, 28, 1]", "[28, 28]") + "filters = 8\n",
            r"conv filters=8 on input_shape \[28, 28\]: .*rank 3",
        ),
        (
            BASE.replace("[28, 28, 1]", "[4, 4, 1]") + "filters = 8\ndepth = 3\n",
            r"conv depth=3 filters=8 on input_shape \[4, 4, 1\]: .*pool",
        ),
        (BASE + "filters = 0\n", r"conv filters=0 on input_shape"),
        (BASE + "filters = []\n", r"filters: an empty list makes an empty axis|empty"),
        ("description = 'x'\n", r"test.toml: no \[\[matrix\]\] table"),
        (
            "matrx = 1\n" + BASE + "filters = 8\n",
            r"unknown top level 'matrx'; did you mean 'matrix'\?",
        ),
        (BASE + "filters = [8, 8]\n", r"duplicate cell 'conv filters=8 b32 forward cpu'"),
        (BASE + "filters = 8\nexclude = [{filters = 8}]\n", r"the matrix is empty"),
        (
            BASE + "filters = 8\nexclude = [{xl = true}]\n",
            r"unknown exclude key 'xl'; did you mean 'xla'\?",
        ),
        (
            BASE + "filters = 8\ndataset = 'digits'\n",
            r"dataset is a fit setting: it needs pass = \"fit\"",
        ),
        (
            FIT.format(block="conv", knobs="filters = 8", passes='"fit"', dataset="breast_cancer"),
            r"dataset = 'breast_cancer': .*",
        ),
        (
            FIT.format(
                block="dense", knobs="units = 8", passes='["fit", "train"]', dataset="digits"
            ),
            r"fit cells go in their own \[\[matrix\]\] table",
        ),
        (
            "[[matrix]]\nblock = 'conv'\ninput_shape = [8, 8, 1]\nfilters = 8\n",
            r"batch_size: required",
        ),
        ("[[matrix]\n", r"not valid TOML"),
        (
            FIT.format(block="dense", knobs="units = 8", passes='"fit"', dataset="digits")
            + "random_labels = true\nlabel_noise = 0.2\n",
            r"dataset = 'digits': .*random",
        ),
    ],
)
def test_config_errors_name_file_key_and_expectation(text, message):
    with pytest.raises(ConfigError, match=message):
        expand(text)


def test_all_errors_are_reported_together():
    with pytest.raises(ConfigError) as error:
        expand("[run]\nrepeat = 1\n" + BASE + "filter = 8\n")
    lines = str(error.value).splitlines()
    assert len(lines) == 2


def test_unknown_preset_or_missing_file():
    with pytest.raises(
        ConfigError,
        match=r"'smok' is neither a config file nor a preset \(did you mean 'smoke'\?\)",
    ):
        load("smok")
    with pytest.raises(ConfigError, match="no such config file"):
        load("missing.toml")


@pytest.mark.parametrize("name", ["smoke", "quick", "full"])
def test_presets_ship_and_validate(name):
    assert name in preset_names()
    spec = load(name)
    assert spec.cells
    assert len({c.cell_id for c in spec.cells}) == len(spec.cells)


def test_smoke_preset_covers_every_kind_of_cell():
    cells = load("smoke").cells
    assert {c.pass_ for c in cells} == {"forward", "train", "fit"}
    assert any(c.xla for c in cells) and any(c.device == "gpu" for c in cells)
    assert any(c.profile for c in cells)


def test_quick_preset_sweeps_every_family_over_1_5_decades_of_params():
    import blocks
    from bench.measure.model import model_costs

    spec = load("quick")
    timing = [c for c in spec.cells if c.pass_ != "fit" and c.device == "cpu"]
    for family in blocks.BLOCKS:
        mine = [c for c in timing if c.block == family and c.batch_size == 32]
        variants = {}
        for cell in mine:
            variants.setdefault(cell.knobs, set()).add((cell.pass_, cell.xla))
        # capacities measured forward and train, XLA off and on (the fits need all four)
        full = [k for k, v in variants.items() if len(v) >= 3]
        assert len(full) >= 5, family
        params = [model_costs(c)[0] for c in mine if c.knobs in full]
        assert max(params) / min(params) >= 10**1.5, family
        assert {c.pass_ for c in mine} == {"forward", "train"}, family
        assert {c.xla for c in mine} == {False, True}, family
    fit_families = {c.block for c in spec.cells if c.pass_ == "fit"}
    assert fit_families == set(blocks.BLOCKS)  # every family has a dataset that suits it
    assert len({c.fit.seed for c in spec.cells if c.pass_ == "fit"}) >= 3
    assert spec.settings.rounds >= 3


def test_profiling_settings_do_not_change_the_config_hash():
    plain = expand(BASE + "filters = 8\n")
    profiled = expand("[run]\nprofile = true\nprofile_steps = 5\n" + BASE + "filters = 8\n")
    assert plain.config_hash == profiled.config_hash
    assert profiled.cells[0].profile and not plain.cells[0].profile
