"""Picks the `tf.distribute` strategy, so one config runs on 1 CPU, 1 GPU or many."""

import json
import os

import tensorflow as tf


def _tf_config_workers() -> int:
    """Number of workers in the `TF_CONFIG` cluster (0 when unset)."""
    cluster = _task()[2]
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def make_strategy(kind: str = "auto", devices=None) -> tf.distribute.Strategy:
    """The strategy for `kind`.

    Args:
        kind: "auto": `MultiWorkerMirroredStrategy` when `TF_CONFIG` names
            several workers, else `MirroredStrategy` when there are several
            local GPUs, else the default (one-device) strategy. "default",
            "mirrored" and "multi_worker" force one of them.
        devices: optional device names for "mirrored" (e.g. two logical CPUs
            in tests); default: all local GPUs (or the CPU when there are none).

    Returns:
        A `tf.distribute.Strategy`. Build and compile the model inside its
        `scope()`; `model.fit` then splits every global batch over its replicas.
    """
    choices = ("auto", "default", "mirrored", "multi_worker")
    if kind not in choices:
        raise ValueError(f"Unknown distribution {kind!r}; choose one of {list(choices)}.")
    if kind == "auto":
        if _tf_config_workers() > 1:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "multi_worker":
        if not _tf_config_workers():
            raise ValueError(
                "distribution multi_worker needs TF_CONFIG describing the cluster, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}.'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def _task():
    """(task type, task index, cluster) from `TF_CONFIG`; (None, 0, {}) when unset."""
    text = os.environ.get("TF_CONFIG") or "{}"
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    task = config.get("task", {})
    return task.get("type"), int(task.get("index", 0)), config.get("cluster", {})


def worker_index() -> int:
    """Index of this process among the workers of `TF_CONFIG` (0 when unset)."""
    return _task()[1]


def is_chief() -> bool:
    """Whether this process writes the run directory: no `TF_CONFIG`, the chief,
    or worker 0 of a cluster without a chief (TensorFlow's convention)."""
    task_type, index, cluster = _task()
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and index == 0 and "chief" not in cluster


def is_multi_worker(strategy) -> bool:
    """Whether `strategy` spans several worker processes."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.num_replicas_in_sync > len(strategy.extended.worker_devices))


def patch_multi_worker_metrics(model) -> None:
    """Lets `fit`/`evaluate` run under `MultiWorkerMirroredStrategy` (Keras 3.15).

    Keras averages the step's metric results over workers with
    `strategy.reduce("MEAN", value, axis=0)`, which fails for scalars
    ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388). Returning them with shape (1,) makes that
    reduction average the workers' values into the scalar Keras expects.
    """
    compute_metrics = model.compute_metrics

    def compute_metrics_per_worker(*args, **kwargs):
        return {name: tf.reshape(value, [1])
                for name, value in compute_metrics(*args, **kwargs).items()}

    model.compute_metrics = compute_metrics_per_worker
