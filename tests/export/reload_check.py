"""Loads an export the way a server would: a fresh process with only TensorFlow and TF Text.

Usage: python reload_check.py EXPORT_DIR REQUEST_JSON REPORT_JSON

REQUEST_JSON: {"batches": {label: {"signature": key, "inputs": [base64 of each input]}}}.
REPORT_JSON gets:
  core_ops: ops registered by `import tensorflow` alone (before TF Text loads);
  text_ops: ops that `import tensorflow_text` adds;
  graph_ops: every op type in saved_model.pb (graph nodes and all library functions);
  ops_without_cpu_kernel: graph ops with no CPU kernel in this process;
  signatures: {key: {"inputs"|"outputs": {name: [dtype, shape]}}};
  outputs: {label: {output name: {"shape", "values"}}}: values flattened, strings
    as base64;
  project_modules: tf_transformer modules imported (must be none).
Imports nothing from this repository: what it can do, TF Serving can do.
"""
import base64
import json
import os
import sys

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.client import pywrap_tf_session
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.framework import kernels


def registered_ops():
    """Names in the process-wide op registry (what a graph may use here)."""
    op_list = op_def_pb2.OpList()
    buffer = pywrap_tf_session.TF_GetAllOpList()
    op_list.ParseFromString(pywrap_tf_session.TF_GetBuffer(buffer))
    return {op.name for op in op_list.op}


def graph_ops(export_dir):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def has_cpu_kernel(op):
    return any(k.device_type in ("CPU", "DEFAULT")
               for k in kernels.get_registered_kernels_for_op(op).kernel)


def encode(value):
    if value.dtype == object:
        return [base64.b64encode(v).decode("ascii") for v in value.reshape(-1)]
    return value.reshape(-1).tolist()


def spec(tensor_spec):
    return [tensor_spec.dtype.name, tensor_spec.shape.as_list()]


def main(export_dir, request_path, report_path):
    core_ops = registered_ops()
    import tensorflow_text  # noqa: F401  registers the TF Text ops, as TF Serving links them

    text_ops = registered_ops() - core_ops
    ops = graph_ops(export_dir)
    loaded = tf.saved_model.load(export_dir)
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    outputs = {}
    for label, batch in request["batches"].items():
        inputs = [base64.b64decode(value) for value in batch["inputs"]]
        function = loaded.signatures[batch["signature"]]
        result = function(inputs=tf.constant(inputs, tf.string, shape=[len(inputs)]))
        outputs[label] = {name: {"shape": value.shape.as_list(), "values": encode(value.numpy())}
                          for name, value in result.items()}
    signatures = {
        key: {"inputs": {name: spec(s) for name, s in
                         function.structured_input_signature[1].items()},
              "outputs": {name: spec(s) for name, s in function.structured_outputs.items()}}
        for key, function in loaded.signatures.items()}
    report = {
        "core_ops": sorted(core_ops), "text_ops": sorted(text_ops), "graph_ops": sorted(ops),
        "ops_without_cpu_kernel": sorted(op for op in ops if not has_cpu_kernel(op)),
        "signatures": signatures, "outputs": outputs,
        "project_modules": sorted(m for m in sys.modules if m.startswith("tf_transformer")),
    }
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
