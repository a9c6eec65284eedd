"""The registry and `BlockSpec`: a plain dict of frozen, callable specs, consistent with layers."""

import dataclasses
import inspect

import pytest

import blocks
from blocks import BLOCKS, REQUIRED, BlockSpec, build, list_blocks


def test_registry_is_a_plain_dict_of_specs_keyed_by_name():
    assert type(BLOCKS) is dict
    assert set(BLOCKS) >= {"conv", "recurrent", "dense", "residual", "transformer"}
    for name, spec in BLOCKS.items():
        assert isinstance(spec, BlockSpec)
        assert spec.name == name


def test_list_blocks_filters_by_pattern():
    assert list_blocks() == sorted(BLOCKS)
    assert list_blocks("re*") == ["recurrent", "residual"]
    assert list_blocks("nothing*") == []


def test_public_api_names():
    for attribute in ("BLOCKS", "BlockSpec", "build", "validate", "output_shape", "list_blocks"):
        assert hasattr(blocks, attribute)
    for function in ("params", "flops", "activations"):
        assert callable(getattr(blocks.cost, function))
    for function in (
        "conv_example",
        "conv_example_corrected",
        "recurrent_example",
        "dense_example",
    ):
        assert callable(getattr(blocks.seed, function))
    assert callable(blocks.compose.parallel) and callable(blocks.compose.sequential)


def test_blocks_package_does_not_import_bench_or_reports():
    source = "\n".join(
        path.read_text()
        for path in sorted(__import__("pathlib").Path(blocks.__file__).parent.glob("*.py"))
    )
    assert "import bench" not in source and "from bench" not in source
    assert "import reports" not in source and "from reports" not in source


@pytest.mark.parametrize("name", list(BLOCKS))
def test_spec_is_frozen_and_its_defaults_read_only(name):
    spec = BLOCKS[name]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"
    with pytest.raises(TypeError):
        spec.defaults["depth"] = 99


@pytest.mark.parametrize("name", list(BLOCKS))
def test_layer_signature_matches_spec_defaults(name):
    spec = BLOCKS[name]
    parameters = inspect.signature(spec.layer).parameters
    for knob, default in spec.defaults.items():
        if default is REQUIRED:
            assert parameters[knob].default is inspect.Parameter.empty, knob
        else:
            assert parameters[knob].default == default, knob


@pytest.mark.parametrize("name", list(BLOCKS))
def test_capacity_knobs_and_small_knobs_are_knobs(name):
    spec = BLOCKS[name]
    assert spec.capacity_knobs and set(spec.capacity_knobs) <= set(spec.defaults)
    assert set(spec.small_knobs) <= set(spec.defaults)
    assert spec.input_rank in (1, 2, 3)
    assert all(len(shape) == spec.input_rank for shape in spec.small_inputs)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_small_cases_are_valid_and_use_every_small_value(name):
    spec = BLOCKS[name]
    cases = spec.small_cases()
    assert len(cases) >= 2
    resolved = [spec.resolve(knobs, shape) for shape, knobs in cases]
    for knob, values in spec.small_knobs.items():
        for value in values:
            assert any(r[knob] == value for r in resolved), (knob, value)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_calling_the_spec_and_build_make_new_layers(name):
    shape, knobs = BLOCKS[name].small_cases()[0]
    layers = [build(name, **knobs), build(name, **knobs), BLOCKS[name](**knobs)]
    assert len({id(layer) for layer in layers}) == 3
    assert all(isinstance(layer, BLOCKS[name].layer) for layer in layers)
