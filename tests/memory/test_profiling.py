"""A profiled cell: where its xplane goes, what is read back, and that timing is untouched."""

import warnings

import pytest
import tensorflow as tf

from bench.measure import profiling
from bench.measure.profiling import ProfileWarning
from bench.spec.cell import Cell
from bench.spec.config import RunSettings
from bench.worker.execute import CellContext, run_cell

SETTINGS = RunSettings(repeats=3, warmup=0, min_sample_s=0.01, fit_step=False, profile_steps=2)
CELL = Cell("dense", (("units", 32),), (16,), 8, "train", profile=True)


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    result = run_cell(CELL, CellContext(settings=SETTINGS, run_dir=run_dir))
    assert result.status == "ok", result.traceback
    assert result.warnings == ()
    return run_dir, result


def test_xplane_is_filed_under_the_cell_slug(profiled):
    run_dir, result = profiled
    profile = result.timing.profile
    expected = run_dir / "tensorboard" / "plugins" / "profile" / CELL.slug
    assert profile.profile_path.startswith(str(expected) + "/")
    assert profile.profile_path.endswith(".xplane.pb")
    assert (expected / profile.profile_path.rsplit("/", 1)[1]).is_file()
    assert not (run_dir / "tensorboard" / CELL.slug).exists()  # the staging folder is gone


def test_peak_and_top_ops_are_read_back(profiled):
    profile = profiled[1].timing.profile
    assert profile.profile_peak_bytes > 0
    assert profile.capture_s > 0
    assert 1 <= len(profile.top_ops) <= 5
    for op in profile.top_ops:
        assert set(op) == {"op", "type", "self_time_us", "pct"}
        assert op["self_time_us"] >= 0 and 0 <= op["pct"] <= 100
    times = [op["self_time_us"] for op in profile.top_ops]
    assert times == sorted(times, reverse=True) and times[0] > 0
    assert 1 <= len(profile.top_alloc_ops) <= 5
    assert all(op["bytes"] > 0 and op["op"] for op in profile.top_alloc_ops)


def test_profiling_does_not_touch_the_timing_samples(profiled):
    _, result = profiled
    assert len(result.timing.samples_s) == SETTINGS.repeats
    markers = profiling.step_markers(result.timing.profile.profile_path, CELL.pass_)
    assert markers == list(range(SETTINGS.profile_steps))  # no warm-up, no timed step


def test_overview_page_finds_the_steps_of_a_loop_free_step(tmp_path):
    weights = tf.Variable(tf.ones((64, 64)))
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(weights, weights)))
    result = profiling.capture(
        lambda i: float(step()), logdir=tmp_path, run_name="plain", steps=3, step_name="train"
    )
    times = profiling.overview_step_times(result.profile_path)
    assert sorted(times) == ["train 0", "train 1", "train 2"]
    assert all(ms > 0 for ms in times.values())


def test_overview_page_ignores_step_markers_around_an_in_graph_loop(tmp_path):
    # xprof groups a profile holding a multi-iteration tf.while_loop by loop iteration and
    # drops the markers (see bench.measure.profiling). If this starts failing, xprof has
    # changed: update the profiling docstring and the README.
    weights = tf.Variable(tf.ones((64, 64)))

    @tf.function
    def loop(n):
        body = lambda i, t: (i + 1, t + tf.reduce_sum(tf.matmul(weights, weights)))  # noqa: E731
        return tf.while_loop(lambda i, t: i < n, body, (0, 0.0))[1]

    result = profiling.capture(
        lambda i: float(loop(tf.constant(2))),
        logdir=tmp_path,
        run_name="loop",
        steps=2,
        step_name="train",
    )
    assert profiling.step_markers(result.profile_path, "train") == [0, 1]
    assert profiling.overview_step_times(result.profile_path) == {}


def test_a_profiled_cell_shows_step_times_on_the_overview_page(profiled):
    times = profiling.overview_step_times(profiled[1].timing.profile.profile_path)
    assert len(times) == SETTINGS.profile_steps


def test_a_second_capture_replaces_the_first(tmp_path):
    weights = tf.Variable(tf.ones((64, 64)))
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(weights, weights)))
    kwargs = dict(logdir=tmp_path, run_name="again", steps=1, step_name="s")
    first = profiling.capture(lambda i: float(step()), **kwargs)
    second = profiling.capture(lambda i: float(step()), **kwargs)
    folder = profiling.profile_folder(tmp_path, "again")
    assert second.profile_path.startswith(str(folder))
    assert len(list(folder.glob("*.xplane.pb"))) == 1
    assert first.profile_path == second.profile_path


def test_capture_raises_while_another_profiler_runs(tmp_path):
    tf.profiler.experimental.start(str(tmp_path / "other"))
    try:
        with pytest.raises(tf.errors.OpError):
            profiling.capture(lambda i: 0.0, logdir=tmp_path, run_name="x", steps=1, step_name="s")
    finally:
        tf.profiler.experimental.stop()


def test_converter_failure_keeps_the_path_and_warns(tmp_path, monkeypatch):
    def broken(xplane, tool):
        raise RuntimeError(f"the {tool} converter returned no data")

    monkeypatch.setattr(profiling, "_tool_json", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = profiling.capture(
            lambda i: float(tf.reduce_sum(tf.ones((8, 8)))),
            logdir=tmp_path,
            run_name="broken",
            steps=1,
            step_name="s",
        )
    assert result.profile_path.endswith(".xplane.pb")
    assert result.profile_peak_bytes is None
    assert "memory_profile" in result.top_alloc_ops[0]["error"]
    assert "framework_op_stats" in result.top_ops[0]["error"]
    assert [w.category for w in caught] == [ProfileWarning]


def test_top_self_time_ops_skips_idle_and_ranks():
    cols = [
        {"id": name}
        for name in (
            "host_or_device",
            "type",
            "operation",
            "total_self_time",
            "host_total_self_time_percent",
            "device_total_self_time_percent",
        )
    ]

    def row(where, kind, name, time, host_share, device_share):
        values = (where, kind, name, time, host_share, device_share)
        return {"c": [{"v": value} for value in values]}

    table = {
        "cols": cols,
        "rows": [
            row("Host", "IDLE", "IDLE", 90.0, 0.9, 0.0),
            row("Host", "MatMul", "a/MatMul", 4.0, 0.4, 0.0),
            row("Device", "Conv2D", "b/Conv2D", 6.0, 0.0, 0.5),
        ],
    }
    assert profiling.top_self_time_ops([table]) == (
        {"op": "b/Conv2D", "type": "Conv2D", "self_time_us": 6.0, "pct": 50.0},
        {"op": "a/MatMul", "type": "MatMul", "self_time_us": 4.0, "pct": 40.0},
    )


def test_memory_summary_sums_live_allocations_by_op():
    def meta(op, size):
        return {"activityMetadata": {"tfOpName": op, "allocationBytes": str(size)}}

    profile = {
        "memoryProfilePerAllocator": {
            "small": {"profileSummary": {"peakBytesUsageLifetime": "10"}},
            "bfc": {
                "profileSummary": {"peakBytesUsageLifetime": "1000"},
                "memoryProfileSnapshots": [meta("a", 100), meta("b", 300), meta("a", 50)],
                "specialAllocations": [
                    {"tfOpName": "unused preallocated device memory", "allocationBytes": "9"}
                ],
                "activeAllocations": [
                    {"snapshotIndex": "0", "specialIndex": "-1", "numOccurrences": "2"},
                    {"snapshotIndex": "1", "specialIndex": "-1", "numOccurrences": "1"},
                    {"snapshotIndex": "2", "specialIndex": "-1", "numOccurrences": "1"},
                    {"snapshotIndex": "-1", "specialIndex": "0", "numOccurrences": "1"},
                ],
            },
        }
    }
    peak, ops = profiling.memory_summary(profile)
    assert peak == 1000
    assert ops == (
        {"op": "b", "bytes": 300, "basis": "live at peak"},
        {"op": "a", "bytes": 250, "basis": "live at peak"},
    )
