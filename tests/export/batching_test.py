"""TF Serving's server-side batching (`--enable_batching`): the example parameters file is
valid, and the signatures behave as its BatchingSession needs.

The BatchingSession concatenates the inputs of several requests along dimension 0,
pads the batch up to an allowed size with copies of a row, runs the signature once and
splits every output back along dimension 0. That is only correct if each output has
the input's dimension 0 and each row's output does not depend on the other rows.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from tests.export.conftest import BAD, SENTENCES
from tf_transformer.special_tokens import PAD_ID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARAMETERS_FILE = os.path.join(ROOT, "docs", "batching_parameters.txt")
# BatchingParameters of tensorflow_serving/servables/tensorflow/session_bundle_config.proto
# (TF Serving 2.20): field name -> (number, wrapper type or None for a repeated int64).
BATCHING_FIELDS = {
    "max_batch_size": (1, "Int64Value"), "batch_timeout_micros": (2, "Int64Value"),
    "max_enqueued_batches": (3, "Int64Value"), "num_batch_threads": (4, "Int64Value"),
    "thread_pool_name": (5, "StringValue"), "allowed_batch_sizes": (6, None),
    "pad_variable_length_inputs": (7, "bool"),
    "enable_large_batch_splitting": (8, "BoolValue"), "max_execution_batch_size": (9, "Int64Value"),
}


def batching_parameters_class():
    """The BatchingParameters message, built from BATCHING_FIELDS (tensorflow-serving-api
    does not ship the servables protos)."""
    from google.protobuf import wrappers_pb2  # noqa: F401  registers wrappers.proto

    proto = descriptor_pb2.FileDescriptorProto(
        name="batching_parameters_test.proto", package="tensorflow.serving",
        dependency=["google/protobuf/wrappers.proto"], syntax="proto3")
    message = proto.message_type.add(name="BatchingParameters")
    field = descriptor_pb2.FieldDescriptorProto
    for name, (number, kind) in BATCHING_FIELDS.items():
        if kind is None:
            message.field.add(name=name, number=number, type=field.TYPE_INT64,
                              label=field.LABEL_REPEATED)
        elif kind == "bool":
            message.field.add(name=name, number=number, type=field.TYPE_BOOL,
                              label=field.LABEL_OPTIONAL)
        else:
            message.field.add(name=name, number=number, type=field.TYPE_MESSAGE,
                              label=field.LABEL_OPTIONAL, type_name=f".google.protobuf.{kind}")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def test_the_example_batching_parameters_are_valid_for_two_cores():
    with open(PARAMETERS_FILE, encoding="utf-8") as f:
        parameters = text_format.Parse(f.read(), batching_parameters_class()())
    sizes = list(parameters.allowed_batch_sizes)
    # BatchingSession's own checks: increasing, ending at max_batch_size.
    assert sizes == sorted(set(sizes)) and sizes[-1] == parameters.max_batch_size.value
    # The batch buckets of `export --xla` (powers of two), so no other size compiles.
    assert sizes == [2 ** i for i in range(len(sizes))]
    assert parameters.num_batch_threads.value == 2
    assert 0 < parameters.batch_timeout_micros.value <= 10_000
    assert parameters.max_enqueued_batches.value > 0


def run(loaded, signature, inputs):
    outputs = loaded.signatures[signature](inputs=tf.constant(inputs, tf.string,
                                                              shape=[len(inputs)]))
    for name, value in outputs.items():  # BatchingSession splits every output by rows
        assert value.shape[0] == len(inputs), (signature, name)
    return {name: value.numpy() for name, value in outputs.items()}


@pytest.mark.slow
@pytest.mark.parametrize("signature", ["serving_default", "translate_greedy"])
def test_translations_of_merged_requests_split_back_into_each_requests(loaded, signature):
    first, second = SENTENCES[:3], BAD + SENTENCES[3:5]
    merged = run(loaded, signature, first + second)
    padded = run(loaded, signature, first + second + first[:1] * 3)  # to an allowed size
    for outputs in (merged, padded):
        for start, request in ((0, first), (len(first), second)):
            alone = run(loaded, signature, request)
            rows = slice(start, start + len(request))
            np.testing.assert_array_equal(outputs["translations"][rows], alone["translations"])
            np.testing.assert_allclose(outputs["scores"][rows], alone["scores"], atol=1e-4)


@pytest.mark.slow
def test_tokenize_rows_split_back_up_to_trailing_padding(loaded):
    # Its ids are as wide as the longest row of the merged batch: split back, a request's
    # rows carry extra PAD columns (tokens ""), nothing else changes.
    first, second = SENTENCES[:2], [SENTENCES[5], "Ein Hund."]
    merged = run(loaded, "tokenize", first + second)
    for start, request in ((0, first), (len(first), second)):
        alone = run(loaded, "tokenize", request)
        rows = slice(start, start + len(request))
        width = alone["ids"].shape[1]
        np.testing.assert_array_equal(merged["ids"][rows, :width], alone["ids"])
        assert (merged["ids"][rows, width:] == PAD_ID).all()
        np.testing.assert_array_equal(merged["tokens"][rows, :width], alone["tokens"])
        np.testing.assert_array_equal(merged["lengths"][rows], alone["lengths"])
