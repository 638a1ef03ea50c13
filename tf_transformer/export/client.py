"""A gRPC client of the exported model in TF Serving (`tensorflow-serving-api`).

The same request builder writes the warm-up file, so what TF Serving replays at load
time is exactly what this client sends.

Example (TF Serving started as in the README section "Serve with TF Serving", gRPC on
port 8500):
  >>> translations, scores = translate(["Ein Mann fährt Fahrrad."], "multi30k_de_en")

Or from a shell:
  python -m tf_transformer.export.client --model multi30k_de_en "Ein Mann fährt Fahrrad."
"""

import argparse
import contextlib
import sys

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

DEFAULT_TARGET = "localhost:8500"


def make_predict_request(sentences, model_name: str, signature_name: str = "serving_default",
                         version: int | None = None) -> predict_pb2.PredictRequest:
    """A `PredictRequest` feeding `sentences` (str or bytes) as the (B,) "inputs" tensor.

    Args:
      sentences: list of source sentences; str is encoded as UTF-8.
      model_name: the servable name (`--model_name` of tensorflow_model_server).
      signature_name: "serving_default" (beam search), "translate_greedy" or "tokenize".
      version: a specific version; None lets TF Serving pick (the latest by default).
    """
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    values = [s.encode("utf-8") if isinstance(s, str) else s for s in sentences]
    request.inputs["inputs"].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string,
                                                           shape=[len(values)]))
    return request


def parse_translations(response: predict_pb2.PredictResponse) -> tuple[list, list]:
    """(translations as str, scores as float) from a translate signature's response."""
    translations = tf.make_ndarray(response.outputs["translations"])
    scores = tf.make_ndarray(response.outputs["scores"])
    return [t.decode("utf-8") for t in translations], [float(s) for s in scores]


def translate(sentences, model_name: str, target: str = DEFAULT_TARGET,
              signature_name: str = "serving_default", timeout: float = 30.0,
              channel: grpc.Channel | None = None) -> tuple[list, list]:
    """Sends one Predict call; returns (translations, scores), one per sentence.

    Args:
      sentences, model_name, signature_name: as `make_predict_request`.
      target: host:port of TF Serving's gRPC endpoint.
      timeout: seconds before the call fails with DEADLINE_EXCEEDED.
      channel: an open channel to reuse (default: a new insecure one to `target`).
    """
    request = make_predict_request(sentences, model_name, signature_name)
    with contextlib.ExitStack() as stack:
        if channel is None:
            channel = stack.enter_context(grpc.insecure_channel(target))
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return parse_translations(stub.Predict(request, timeout=timeout))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Translate with a TF Serving model over gRPC.")
    parser.add_argument("sentences", nargs="+", help="source sentences")
    parser.add_argument("--model", required=True, help="servable name, e.g. multi30k_de_en")
    parser.add_argument("--target", default=DEFAULT_TARGET, help="gRPC host:port")
    parser.add_argument("--signature", default="serving_default",
                        choices=["serving_default", "translate_greedy"])
    args = parser.parse_args(argv)
    try:
        translations, scores = translate(args.sentences, args.model, args.target, args.signature)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()} (is TF Serving running at "
              f"{args.target}?)", file=sys.stderr)
        return 1
    for translation, score in zip(translations, scores):
        print(f"{score:.3f}\t{translation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
