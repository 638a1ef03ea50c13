"""tf.distribute: 2 logical CPUs and 2 worker processes train like one device, and
2 workers read disjoint shares of `tf-transformer train`'s training data.

Both run `distributed_run.py` in subprocesses (devices and TF_CONFIG must be set
before TensorFlow starts); one pair of worker processes serves both multi-worker
tests. Tolerance: relative 1e-5 on the losses of 3 steps (seen:
~1e-7); relative 1e-4 on the sum of |weights| after them (seen: ~1e-5: Adam with
eps 1e-9 turns float32 noise in near-zero gradients into whole-size updates).
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tf_transformer.training import distribute

SCRIPT = os.path.join(os.path.dirname(__file__), "distributed_run.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def launch(mode, tf_config=None, *args):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, SCRIPT, mode, *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(process):
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def local():
    return result(launch("local"))


def assert_same_training(distributed, single):
    assert distributed["replicas"] == 2
    np.testing.assert_allclose(distributed["losses"], single["losses"], rtol=1e-5)
    np.testing.assert_allclose(distributed["checksum"], single["checksum"], rtol=1e-4)


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_equals_one_device(local):
    assert local["single"]["replicas"] == 1
    assert_same_training(local["mirrored"], local["single"])


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """The reports of the two MultiWorkerMirroredStrategy workers of one cluster."""
    folder = tmp_path_factory.mktemp("workers")
    workers = [f"localhost:{free_port()}" for _ in range(2)]
    processes = [launch("multi_worker", {"cluster": {"worker": workers},
                                         "task": {"type": "worker", "index": i}}, str(folder))
                 for i in range(2)]
    return [result(process) for process in processes]


@pytest.mark.slow
def test_two_workers_equal_one_device(two_workers, local):
    for report in two_workers:
        assert_same_training(report["multi_worker"], local["single"])


@pytest.mark.slow
def test_two_workers_see_disjoint_pairs_within_an_epoch(two_workers):
    # `tf-transformer train`'s dataset of a files corpus, under MultiWorkerMirroredStrategy.
    first, second = (report["shards"] for report in two_workers)
    assert first["seen"] and second["seen"]
    assert not set(first["seen"]) & set(second["seen"])
    assert sorted(first["seen"] + second["seen"]) == sorted(first["corpus"])


def test_strategy_choice(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.make_strategy("auto") is distribute.tf.distribute.get_strategy()
    assert distribute.is_chief() and distribute.worker_index() == 0
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}))
    assert not distribute.is_chief() and distribute.worker_index() == 1
    with pytest.raises(ValueError, match="Unknown distribution 'tpu'"):
        distribute.make_strategy("tpu")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.make_strategy("auto")


def test_multi_worker_without_tf_config_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        distribute.make_strategy("multi_worker")
