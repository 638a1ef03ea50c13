"""Picks the `tf.distribute` strategy, so one config runs on 1 CPU, 1 GPU or many."""

import json
import os

import tensorflow as tf


def _tf_config_workers() -> int:
    """Number of workers in the `TF_CONFIG` cluster (0 when unset)."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return 0
    try:
        cluster = json.loads(text).get("cluster", {})
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
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
