"""The gRPC client of the README, against a PredictionService that runs the SavedModel.

The stand-in server does what TF Serving's Predict does for our signatures: look up
the signature, feed the request's "inputs" tensor, return every output tensor.
"""

from concurrent import futures

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.export.conftest import MODEL_NAME, SENTENCES, decode_strings
from tf_transformer.export import client

# Uses the trained, exported model of conftest.py (built once, ~20 s).
pytestmark = pytest.mark.slow


class SavedModelPredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, loaded):
        self.loaded = loaded

    def Predict(self, request, context):
        if request.model_spec.name != MODEL_NAME:
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"Servable not found for request: {request.model_spec.name}")
        signature = self.loaded.signatures[request.model_spec.signature_name or
                                           "serving_default"]
        outputs = signature(inputs=tf.constant(tf.make_ndarray(request.inputs["inputs"])))
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
        return response


@pytest.fixture(scope="module")
def server_target(loaded):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        SavedModelPredictionService(loaded), server)
    port = server.add_insecure_port("localhost:0")
    server.start()
    yield f"localhost:{port}"
    server.stop(grace=None)


def test_the_request_is_a_valid_predict_request():
    request = client.make_predict_request(["Ein Mann.", b"raw \xff"], "m",
                                          signature_name="translate_greedy", version=3)
    parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert parsed == request
    assert (parsed.model_spec.name, parsed.model_spec.signature_name,
            parsed.model_spec.version.value) == ("m", "translate_greedy", 3)
    assert list(parsed.inputs) == ["inputs"]
    tensor = parsed.inputs["inputs"]
    assert tensor.dtype == tf.string.as_datatype_enum
    assert [d.size for d in tensor.tensor_shape.dim] == [2]
    assert list(tensor.string_val) == ["Ein Mann.".encode("utf-8"), b"raw \xff"]
    empty = client.make_predict_request([], "m").inputs["inputs"]
    assert [d.size for d in empty.tensor_shape.dim] == [0]


@pytest.mark.parametrize("signature, label", [("serving_default", "beam"),
                                              ("translate_greedy", "greedy")])
def test_translate_over_grpc_gives_the_saved_model_translations(server_target, reload_report,
                                                                signature, label):
    translations, scores = client.translate(SENTENCES, MODEL_NAME, target=server_target,
                                            signature_name=signature)
    expected = reload_report["outputs"][label]
    assert translations == [t.decode("utf-8") for t in decode_strings(expected["translations"])]
    assert scores == pytest.approx(expected["scores"]["values"], abs=1e-5)


def test_the_command_line_client_prints_score_and_translation(server_target, capsys):
    [expected], [expected_score] = client.translate(SENTENCES[:1], MODEL_NAME,
                                                    target=server_target)
    assert client.main(["--model", MODEL_NAME, "--target", server_target, SENTENCES[0]]) == 0
    score, translation = capsys.readouterr().out.rstrip("\n").split("\t")
    assert translation == expected
    assert float(score) == pytest.approx(expected_score, abs=1e-3)  # printed with 3 decimals


def test_server_errors_are_reported_not_raised(server_target, capsys):
    assert client.main(["--model", "no_such_model", "--target", server_target, "x"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
