"""Loads an export the way a server would: a fresh process with only TensorFlow and TF Text.

Usage: python reload_check.py EXPORT_DIR REQUEST_JSON REPORT_JSON

Runs each requested batch twice:
- like TF Serving: the SavedModel loaded into a graph session (`tf.compat.v1` loader:
  restore op, init op, then `Session.run` with the SignatureDef's tensor names, as
  the C++ `LoadSavedModel` the model server uses does);
- like a Python user: `tf.saved_model.load(...).signatures[key](inputs=...)`.

REQUEST_JSON: {"batches": {label: {"signature": key, "inputs": [base64 of each input]}},
"disable_xla": optional bool, "session_only": optional bool}. With "disable_xla", XLA
compilation is switched off as `tensorflow_model_server` does without
--xla_cpu_compilation_enabled; with "session_only", only the server's way runs
(python_outputs and python_errors are then empty).
REPORT_JSON gets:
  core_ops: ops registered by `import tensorflow` alone (before TF Text loads);
  text_ops: ops that `import tensorflow_text` adds;
  graph_ops: every op type in saved_model.pb (graph nodes and all library functions);
  ops_without_cpu_kernel: graph ops with no CPU kernel in this process;
  signatures: {key: {"inputs"|"outputs": {name: [dtype, shape]}}} of the SignatureDefs;
  outputs, python_outputs: {label: {output name: {"shape", "values"}}} from the session
    and from tf.saved_model.load; values flattened, strings as base64;
  project_modules: tf_transformer modules imported (must be none).
Imports nothing from this repository: what it can do, TF Serving can do.
"""
import base64
import ctypes
import json
import os
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import op_def_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.client import pywrap_tf_session
from tensorflow.python.framework import kernels


def registered_ops():
    """Names in the process-wide op registry (what a graph may use here)."""
    op_list = op_def_pb2.OpList()
    buffer = pywrap_tf_session.TF_GetAllOpList()
    op_list.ParseFromString(pywrap_tf_session.TF_GetBuffer(buffer))
    return {op.name for op in op_list.op}


def read_saved_model(export_dir):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    return saved_model


def graph_ops(saved_model):
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def xla_functions(saved_model):
    return sorted(function.signature.name for meta_graph in saved_model.meta_graphs
                  for function in meta_graph.graph_def.library.function
                  if function.attr["_XlaMustCompile"].b)


def disable_xla_compilation():
    """What tensorflow_model_server's main() calls without --xla_cpu_compilation_enabled
    (tensorflow::DisableXlaCompilation, exported by libtensorflow_cc)."""
    library = ctypes.CDLL(os.path.join(os.path.dirname(tf.__file__), "libtensorflow_cc.so.2"))
    library._ZN10tensorflow21DisableXlaCompilationEv()


def has_cpu_kernel(op):
    return any(k.device_type in ("CPU", "DEFAULT")
               for k in kernels.get_registered_kernels_for_op(op).kernel)


def encode(value):
    if value.dtype == object:
        return [base64.b64encode(v).decode("ascii") for v in value.reshape(-1)]
    return value.reshape(-1).tolist()


def tensor_spec(tensor_info):
    shape = [None if d.size == -1 else d.size for d in tensor_info.tensor_shape.dim]
    return [tf.dtypes.as_dtype(tensor_info.dtype).name, shape]


def error_line(error):
    return f"{type(error).__name__}: {' '.join(error.message.split())[:2000]}"


def run_in_session(export_dir, batches):
    """Outputs and errors per batch label, run as TF Serving runs a SavedModel."""
    outputs, errors = {}, {}
    with tf.compat.v1.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        for label, (signature, inputs) in batches.items():
            signature_def = meta_graph.signature_def[signature]
            fetches = {name: info.name for name, info in signature_def.outputs.items()}
            feed = {signature_def.inputs["inputs"].name: np.array(inputs, dtype=object)}
            try:
                result = session.run(fetches, feed_dict=feed)
            except tf.errors.OpError as error:
                errors[label] = error_line(error)
                continue
            outputs[label] = {name: {"shape": list(value.shape), "values": encode(value)}
                              for name, value in result.items()}
        signatures = {
            key: {"inputs": {name: tensor_spec(i) for name, i in sd.inputs.items()},
                  "outputs": {name: tensor_spec(o) for name, o in sd.outputs.items()}}
            for key, sd in meta_graph.signature_def.items() if not key.startswith("__")}
    return outputs, errors, signatures


def run_in_python(export_dir, batches):
    """Outputs and errors per batch label through `tf.saved_model.load`."""
    loaded = tf.saved_model.load(export_dir)
    outputs, errors = {}, {}
    for label, (signature, inputs) in batches.items():
        try:
            result = loaded.signatures[signature](
                inputs=tf.constant(inputs, tf.string, shape=[len(inputs)]))
        except tf.errors.OpError as error:
            errors[label] = error_line(error)
            continue
        outputs[label] = {name: {"shape": value.shape.as_list(), "values": encode(value.numpy())}
                          for name, value in result.items()}
    return outputs, errors


def main(export_dir, request_path, report_path):
    core_ops = registered_ops()
    import tensorflow_text  # noqa: F401  registers the TF Text ops, as TF Serving links them

    text_ops = registered_ops() - core_ops
    saved_model = read_saved_model(export_dir)
    ops = graph_ops(saved_model)
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    if request.get("disable_xla"):
        disable_xla_compilation()
    batches = {label: (batch["signature"], [base64.b64decode(v) for v in batch["inputs"]])
               for label, batch in request["batches"].items()}
    outputs, errors, signatures = run_in_session(export_dir, batches)
    python_outputs, python_errors = ({}, {}) if request.get("session_only") else \
        run_in_python(export_dir, batches)
    report = {
        "core_ops": sorted(core_ops), "text_ops": sorted(text_ops), "graph_ops": sorted(ops),
        "ops_without_cpu_kernel": sorted(op for op in ops if not has_cpu_kernel(op)),
        "signatures": signatures, "outputs": outputs, "errors": errors,
        "python_outputs": python_outputs, "python_errors": python_errors,
        "xla_functions": xla_functions(saved_model),
        "versions": {"tensorflow": tf.__version__,
                     "tensorflow_text": tensorflow_text.__version__},
        "project_modules": sorted(m for m in sys.modules if m.startswith("tf_transformer")),
    }
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
