"""PeakTracker on plain TensorFlow computations: allocator and RSS peaks of a phase."""

import pytest
import tensorflow as tf

from bench.measure import memory
from bench.measure.memory import Peak, PeakTracker

MIB = 2**20


def test_peak_covers_a_tensor_allocated_between_start_and_stop():
    tracker = PeakTracker("cpu")
    tracker.start()
    big = tf.ones((1024, 1024)) * 2.0  # 4 MiB, computed so it is really allocated
    float(tf.reduce_sum(big))
    peak = tracker.stop()
    assert isinstance(peak, Peak)
    assert peak.peak_bytes >= 4 * MIB
    assert peak.allocator.startswith("CPU:0 BFC")  # tests/conftest.py sets the BFC allocator
    assert peak.rss_peak_bytes > 4 * MIB


def test_start_forgets_earlier_peaks():
    float(tf.reduce_sum(tf.ones((2048, 2048))))  # a 16 MiB peak before the phase
    tracker = PeakTracker("cpu")
    tracker.start()
    float(tf.reduce_sum(tf.ones((16, 16))))
    peak = tracker.stop()
    # what this phase added over what earlier tests left allocated: not the 16 MiB
    assert 0 <= peak.peak_bytes - peak.start_bytes < 4 * MIB


def test_rss_peak_falls_back_to_sampling(monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "_CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    tracker = PeakTracker("cpu")
    tracker.start()
    assert tracker._rss.method == "sampled"
    float(tf.reduce_sum(tf.ones((512, 512))))
    peak = tracker.stop()
    assert peak.rss_peak_bytes > 10 * MIB  # the whole process, TensorFlow included


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is visible")
def test_gpu_without_gpu_is_unavailable_not_an_error():
    tracker = PeakTracker("gpu")
    tracker.start()
    peak = tracker.stop()
    assert peak.peak_bytes is None
    assert peak.allocator.startswith("unavailable: GPU:0")
    assert peak.rss_peak_bytes is not None


def test_bad_device_and_stop_before_start():
    with pytest.raises(ValueError, match="device must be one of"):
        PeakTracker("tpu")
    with pytest.raises(RuntimeError, match="before start"):
        PeakTracker("cpu").stop()


def test_allocator_names(monkeypatch):
    monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", "true")
    assert memory.allocator_name("cpu") == "CPU:0 BFC (TF_CPU_ALLOCATOR_USE_BFC=true)"
    monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC")
    assert memory.allocator_name("cpu").startswith("CPU:0 default allocator")
    monkeypatch.delenv("TF_GPU_ALLOCATOR", raising=False)
    assert memory.allocator_name("gpu") == "GPU:0 BFC"


def test_start_bytes_is_what_was_live_at_start():
    kept = tf.Variable(tf.zeros((256, 1024)))  # 1 MiB live through the phase
    tracker = PeakTracker("cpu")
    tracker.start()
    float(tf.reduce_sum(tf.ones((16, 16))))
    peak = tracker.stop()
    assert peak.start_bytes >= MIB
    assert peak.peak_bytes >= peak.start_bytes
    del kept
