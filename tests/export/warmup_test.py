"""assets.extra/tf_serving_warmup_requests: PredictionLog records TF Serving can replay."""

import os

import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tests.export.conftest import MODEL_NAME, WARMUP
from tf_transformer.export.warmup import WARMUP_FILE

# Uses the trained, exported model of conftest.py (built once, ~20 s).
pytestmark = pytest.mark.slow


def read_records(path):
    logs = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


def test_the_warmup_file_is_predict_logs_for_both_translate_signatures(exported):
    logs = read_records(os.path.join(exported.path, WARMUP_FILE))
    sentences = [s.encode("utf-8") for s in WARMUP]  # recorded in the run by `prepare`
    requests = [log.predict_log.request for log in logs]
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 4
    assert [(r.model_spec.name, r.model_spec.signature_name) for r in requests] == [
        (MODEL_NAME, "serving_default")] * 2 + [(MODEL_NAME, "translate_greedy")] * 2
    assert [list(tf.make_ndarray(r.inputs["inputs"])) for r in requests] == [
        sentences[:1], sentences] * 2


def test_replaying_the_warmup_requests_translates_every_sentence(exported, loaded):
    # What TF Serving does at load time: run each request against its signature.
    for log in read_records(os.path.join(exported.path, WARMUP_FILE)):
        request = log.predict_log.request
        inputs = tf.make_ndarray(request.inputs["inputs"])
        outputs = loaded.signatures[request.model_spec.signature_name](
            inputs=tf.constant(inputs))
        assert outputs["translations"].shape == inputs.shape
        assert all(outputs["translations"].numpy())
