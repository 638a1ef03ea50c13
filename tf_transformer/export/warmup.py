"""TF Serving's warm-up file: requests replayed when a version loads.

TF Serving reads `assets.extra/tf_serving_warmup_requests`, a TFRecord file of
`PredictionLog` protos, and runs each request before it marks the version
available, so graph optimisation and memory allocation happen then instead of
during the first user's request.
(https://www.tensorflow.org/tfx/serving/saved_model_warmup)
"""

import os

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tf_transformer.export.client import make_predict_request

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def warmup_requests(model_name: str, sentences, signatures=("serving_default",
                                                             "translate_greedy")) -> list:
    """`PredictionLog`s: for each signature, one request of 1 sentence and one of all."""
    logs = []
    for signature in signatures:
        for batch in (sentences[:1], sentences):
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(make_predict_request(batch, model_name, signature))
            logs.append(log)
    return logs


def write_warmup_file(export_dir: str, model_name: str, sentences) -> str:
    """Writes `export_dir/assets.extra/tf_serving_warmup_requests`; returns its path."""
    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_requests(model_name, sentences):
            writer.write(log.SerializeToString())
    return path

