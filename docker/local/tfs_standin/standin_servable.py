"""One loaded SavedModel version: its MetaGraphDef signatures (for metadata), and Predict, Classify and Regress
over them.

Validation and error texts follow TF Serving's predict_util.cc / saved_model util, so a client sees the same
status codes as with the real server: FAILED_PRECONDITION for an unknown signature, INVALID_ARGUMENT for
inputs that do not match the signature. Responses use typed value fields (float_val...), as TFS's
Tensor::AsProtoField does, not tensor_content.
"""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np
import standin_config
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.python.saved_model import loader_impl

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
PREDICT_METHODS = {"tensorflow/serving/predict", CLASSIFY_METHOD, REGRESS_METHOD}
# signature_constants: the one input both take, and their outputs.
EXAMPLES_INPUT, CLASSES_OUTPUT, SCORES_OUTPUT, REGRESS_OUTPUT = "inputs", "classes", "scores", "outputs"


class ServingError(Exception):
    """An RPC failure with the gRPC status code TF Serving would return."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


_GRPC_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def status_code_of(error: BaseException) -> grpc.StatusCode:
    """TF error codes and gRPC status codes share numbers."""
    if isinstance(error, tf.errors.OpError):
        return _GRPC_BY_VALUE.get(error.error_code, grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.UNKNOWN


def _meta_graph(path: str, tags: frozenset[str]):
    saved_model = loader_impl.parse_saved_model(path)
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == tags:
            return meta_graph
    available = [sorted(mg.meta_info_def.tags) for mg in saved_model.meta_graphs]
    raise ServingError(
        grpc.StatusCode.NOT_FOUND,
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(sorted(tags))} }}. "
        f"Available tags: {available}",
    )


def _shape_matches(expected: tf.TensorShape, actual: tuple[int, ...]) -> bool:
    return expected.is_compatible_with(tf.TensorShape(actual))


def _dims(shape_proto) -> str:
    if shape_proto.unknown_rank:
        return "<unknown>"
    return "[" + ",".join(str(d.size) for d in shape_proto.dim) + "]"


_CC_NAMES = {"float32": "float", "float64": "double", "float16": "half"}


def _cc_dtype_name(dtype_enum: int) -> str:
    """DataTypeString() spelling, as TF's C++ errors print dtypes."""
    if not dtype_enum:
        return "invalid"
    try:
        name = tf.as_dtype(dtype_enum).name
    except TypeError:
        return f"unknown dtype {dtype_enum}"
    return _CC_NAMES.get(name, name)


# TensorProto field per dtype, as tensorflow::Tensor::AsProtoField writes them.
_VALUE_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_BFLOAT16: "half_val",
}


def as_proto_field(array: np.ndarray, dtype) -> tensor_pb2.TensorProto:
    """Encode like TFS does (typed repeated fields); falls back to tensor_content for exotic dtypes."""
    tf_dtype = tf.as_dtype(dtype)
    field = _VALUE_FIELD.get(tf_dtype.as_datatype_enum)
    if field is None:
        return tf.make_tensor_proto(array, dtype=tf_dtype)
    proto = tensor_pb2.TensorProto(dtype=tf_dtype.as_datatype_enum)
    proto.tensor_shape.CopyFrom(tf.TensorShape(array.shape).as_proto())
    flat = array.reshape(-1)
    if field == "string_val":
        getattr(proto, field).extend(bytes(v) for v in flat)
    elif field == "half_val":
        proto.half_val.extend(flat.view(np.uint16).tolist())  # bit patterns, as TF stores half/bfloat16
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


@dataclasses.dataclass
class Servable:
    name: str
    version: int
    path: str
    meta_graph: object
    loaded: object
    batching: standin_config.BatchingSettings | None

    @classmethod
    def load(
        cls,
        name: str,
        version: int,
        path: str,
        tags: frozenset[str],
        batching: standin_config.BatchingSettings | None,
    ) -> Servable:
        meta_graph = _meta_graph(path, tags)
        loaded = tf.saved_model.load(path, tags=sorted(tags))
        return cls(name, version, path, meta_graph, loaded, batching)

    @property
    def signature_defs(self):
        return self.meta_graph.signature_def

    def predict(self, request, response) -> None:
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature_name not in self.signature_defs:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{signature_name}" not found.'
            )
        signature = self.signature_defs[signature_name]
        if signature.method_name and signature.method_name not in PREDICT_METHODS:
            raise ServingError(
                grpc.StatusCode.INTERNAL,
                "Expected prediction signature method_name to be one of {tensorflow/serving/predict, "
                f"tensorflow/serving/classify, tensorflow/serving/regress}}. Was: {signature.method_name}",
            )
        response.model_spec.name = self.name
        response.model_spec.version.value = self.version
        response.model_spec.signature_name = signature_name
        feeds = self._inputs(signature, request)
        aliases = self._output_aliases(signature, request)
        function = self.loaded.signatures[signature_name]
        try:
            outputs = function(**feeds)
        except (tf.errors.OpError, ValueError, TypeError) as err:
            code = status_code_of(err) if isinstance(err, tf.errors.OpError) else grpc.StatusCode.INVALID_ARGUMENT
            raise ServingError(code, str(getattr(err, "message", err))) from err
        for alias in aliases:
            tensor = outputs[alias]
            response.outputs[alias].CopyFrom(as_proto_field(tensor.numpy(), tensor.dtype))

    def classify(self, request, response) -> None:
        """As classifier.cc: a classify signature, serialized Examples into `inputs`, `classes` and/or `scores`
        ([batch, classes]) out as one Classifications per example."""
        name, signature = self._example_signature(request, CLASSIFY_METHOD, "classification")
        if len(signature.inputs) != 1:
            raise invalid("Expected one input Tensor.")
        if len(signature.outputs) not in (1, 2):
            raise invalid(f"Expected one or two output Tensors, found {len(signature.outputs)}")
        if EXAMPLES_INPUT not in signature.inputs:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, f"No classification inputs found in SignatureDef: {signature}"
            )
        wanted = [key for key in (CLASSES_OUTPUT, SCORES_OUTPUT) if key in signature.outputs]
        if not wanted:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                'Expected classification signature outputs to contain at least one of "classes" or "scores". '
                f"Signature was: {signature}",
            )
        count, outputs = self._run_examples(name, request)
        classes, scores = outputs.get(CLASSES_OUTPUT), outputs.get(SCORES_OUTPUT)
        checks = ((CLASSES_OUTPUT, classes, "OS", "DT_STRING"), (SCORES_OUTPUT, scores, "f", "DT_FLOAT"))
        for key, array, kinds, dtype in checks:
            if array is None:
                continue
            if array.ndim != 2:
                raise invalid(f"Expected Tensor shape: [batch_size num_classes] but got {list(array.shape)}")
            if array.dtype.kind not in kinds or (dtype == "DT_FLOAT" and array.dtype != np.float32):
                raise invalid(f"Expected {key} Tensor of {dtype}. Got: {array.dtype}")
            if array.shape[0] != count:
                raise invalid(f"Expected {key} output batch size of {count}. Got: {array.shape[0]}")
        if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
            raise invalid(
                f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
            )
        width = (classes if classes is not None else scores).shape[1]
        for row in range(count):
            result = response.result.classifications.add()
            for column in range(width):
                entry = result.classes.add()
                if classes is not None:
                    entry.label = bytes(classes[row, column]).decode("utf-8", "replace")
                if scores is not None:
                    entry.score = float(scores[row, column])
        self._fill_spec(response, name)

    def regress(self, request, response) -> None:
        """As regressor.cc: a regress signature, serialized Examples into `inputs`, `outputs` ([batch] or
        [batch, 1] float) out as one Regression per example."""
        name, signature = self._example_signature(request, REGRESS_METHOD, "regression")
        if len(signature.inputs) != 1:
            raise invalid("Expected one input Tensor.")
        if len(signature.outputs) != 1:
            raise invalid("Expected one output Tensor.")
        if EXAMPLES_INPUT not in signature.inputs:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, f"No regression inputs found in SignatureDef: {signature}"
            )
        if REGRESS_OUTPUT not in signature.outputs:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, f"No regression outputs found in SignatureDef: {signature}"
            )
        count, outputs = self._run_examples(name, request)
        values = outputs[REGRESS_OUTPUT]
        if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
            raise invalid(
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                f"{list(values.shape)}"
            )
        if values.shape[0] != count:
            raise invalid(f"Input batch size did not match output batch size: {count} vs. {values.shape[0]}")
        if values.dtype != np.float32:
            raise invalid(f"Expected output Tensor of DT_FLOAT.  Got: {values.dtype}")
        for value in values.reshape(-1):
            response.result.regressions.add(value=float(value))
        self._fill_spec(response, name)

    def _example_signature(self, request, method: str, kind: str):
        """GetClassificationSignatureDef / GetRegressionSignatureDef: by name (default serving_default), of the
        method's kind."""
        name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if name not in self.signature_defs:
            raise invalid(f"No signature was found with the name: {name}")
        signature = self.signature_defs[name]
        if signature.method_name != method:
            raise invalid(f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}")
        return name, signature

    def _run_examples(self, name: str, request) -> tuple[int, dict[str, np.ndarray]]:
        """InputToSerializedExampleTensor then one run: a string vector of serialized Examples, each prefixed with
        the serialized context (protobuf merges the two, the example's features winning)."""
        kind = request.input.WhichOneof("kind")
        if kind == "example_list":
            serialized = [e.SerializeToString() for e in request.input.example_list.examples]
        elif kind == "example_list_with_context":
            listed = request.input.example_list_with_context
            context = listed.context.SerializeToString()
            serialized = [context + e.SerializeToString() for e in listed.examples]
        else:
            serialized = []
        if not serialized:
            raise invalid("Input is empty.")
        self._check_batch_size(EXAMPLES_INPUT, np.empty(len(serialized)))
        function = self.loaded.signatures[name]
        try:
            outputs = function(**{EXAMPLES_INPUT: tf.constant(serialized, dtype=tf.string)})
        except (tf.errors.OpError, ValueError, TypeError) as err:
            code = status_code_of(err) if isinstance(err, tf.errors.OpError) else grpc.StatusCode.INVALID_ARGUMENT
            raise ServingError(code, str(getattr(err, "message", err))) from err
        return len(serialized), {key: tensor.numpy() for key, tensor in outputs.items()}

    def _fill_spec(self, response, signature_name: str) -> None:
        response.model_spec.name = self.name
        response.model_spec.version.value = self.version
        response.model_spec.signature_name = signature_name

    def _inputs(self, signature, request) -> dict[str, tf.Tensor]:
        sent, expected = set(request.inputs), set(signature.inputs)
        if len(sent) != len(expected):
            raise invalid(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
            )
        feeds = {}
        for index, alias in enumerate(sorted(expected)):
            if alias not in request.inputs:
                unknown = sorted(sent - expected)[0]
                raise invalid(
                    f"input tensor alias not found in signature: {unknown}. "
                    f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}."
                )
            info, proto = signature.inputs[alias], request.inputs[alias]
            if proto.dtype != info.dtype:
                raise invalid(
                    f"Expects arg[{index}] to be {_cc_dtype_name(info.dtype)} but "
                    f"{_cc_dtype_name(proto.dtype)} is provided"
                )
            try:
                array = tf.make_ndarray(proto)
            except Exception as err:  # any malformed TensorProto (bad content length, bad shape...)
                raise invalid(f"tensor parsing error: {alias}: {err}") from err
            if not _shape_matches(tf.TensorShape(info.tensor_shape), array.shape):
                raise invalid(
                    f"input {alias!r} has shape [{','.join(map(str, array.shape))}] "
                    f"but the signature expects {_dims(info.tensor_shape)}"
                )
            self._check_batch_size(alias, array)
            feeds[alias] = tf.constant(array, dtype=tf.as_dtype(info.dtype))
        return feeds

    def _check_batch_size(self, alias: str, array: np.ndarray) -> None:
        if self.batching is None or self.batching.enable_large_batch_splitting or array.ndim == 0:
            return
        if array.shape[0] > self.batching.max_batch_size:
            # BatchingSession's wording for a request larger than any batch it may form.
            raise invalid(
                f"Task size {array.shape[0]} is larger than maximum input batch size "
                f"{self.batching.max_batch_size} (input {alias})"
            )

    @staticmethod
    def _output_aliases(signature, request) -> list[str]:
        if not request.output_filter:
            return sorted(signature.outputs)
        seen: list[str] = []
        for alias in request.output_filter:
            if alias not in signature.outputs:
                raise invalid(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{','.join(sorted(signature.outputs))}}}."
                )
            if alias in seen:
                raise invalid(f"duplicate output tensor alias: {alias}")
            seen.append(alias)
        return seen
