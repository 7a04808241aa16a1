"""numpy <-> TensorProto without TensorFlow, vectorised (raw `tensor_content` bytes for numeric dtypes)."""

from __future__ import annotations

import math

import numpy as np

from serve_container.errors import BadRequest, UpstreamError
from serve_container.protos import tensor_pb2, types_pb2

_DT = types_pb2.DataType
NUMPY_BY_DTYPE: dict[int, np.dtype] = {
    _DT.DT_FLOAT: np.dtype(np.float32),
    _DT.DT_DOUBLE: np.dtype(np.float64),
    _DT.DT_HALF: np.dtype(np.float16),
    _DT.DT_INT8: np.dtype(np.int8),
    _DT.DT_INT16: np.dtype(np.int16),
    _DT.DT_INT32: np.dtype(np.int32),
    _DT.DT_INT64: np.dtype(np.int64),
    _DT.DT_UINT8: np.dtype(np.uint8),
    _DT.DT_UINT16: np.dtype(np.uint16),
    _DT.DT_UINT32: np.dtype(np.uint32),
    _DT.DT_UINT64: np.dtype(np.uint64),
    _DT.DT_BOOL: np.dtype(np.bool_),
    _DT.DT_STRING: np.dtype(object),
}
DTYPE_BY_NUMPY = {v: k for k, v in NUMPY_BY_DTYPE.items()}
_WIRE_DTYPES = {k: v.newbyteorder("<") for k, v in NUMPY_BY_DTYPE.items()}  # tensor_content's byte order
# Plain ints: an attribute of the enum wrapper is a Python-level lookup on every response.
_DT_STRING, _DT_HALF = _DT.DT_STRING, _DT.DT_HALF

# Where TF Serving puts values when it does not use tensor_content; half_val carries float16 bit patterns.
_VAL_FIELD = {
    _DT.DT_FLOAT: "float_val",
    _DT.DT_DOUBLE: "double_val",
    _DT.DT_HALF: "half_val",
    _DT.DT_INT8: "int_val",
    _DT.DT_INT16: "int_val",
    _DT.DT_INT32: "int_val",
    _DT.DT_UINT8: "int_val",
    _DT.DT_UINT16: "int_val",
    _DT.DT_INT64: "int64_val",
    _DT.DT_UINT32: "uint32_val",
    _DT.DT_UINT64: "uint64_val",
    _DT.DT_BOOL: "bool_val",
    _DT.DT_STRING: "string_val",
}


def numpy_dtype(dtype_enum: int) -> np.dtype:
    try:
        return NUMPY_BY_DTYPE[dtype_enum]
    except KeyError:
        raise BadRequest(f"tensor dtype {_DT.Name(dtype_enum)} is not supported") from None


def dtype_name(dtype_enum: int) -> str:
    return _DT.Name(dtype_enum)


def to_tensor_proto(array: np.ndarray, proto: tensor_pb2.TensorProto | None = None) -> tensor_pb2.TensorProto:
    """`array` as a TensorProto; filled into `proto` when given (a request's `inputs[name]`: no CopyFrom of the
    content afterwards)."""
    proto = tensor_pb2.TensorProto() if proto is None else proto
    # The shape before the content: with upb, a submessage added after a large bytes field makes the message
    # serialize ~15x slower (measured: 1.3 vs 0.09 ms for a 256x32x32x3 uint8 batch).
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add(size=int(size))
    if array.dtype.kind in ("O", "S", "U"):
        proto.dtype = _DT.DT_STRING
        flat = array.reshape(-1)
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in flat)
    else:
        dtype_enum = DTYPE_BY_NUMPY.get(array.dtype.newbyteorder("="))
        if dtype_enum is None:
            raise BadRequest(f"numpy dtype {array.dtype} cannot be sent to TF Serving")
        proto.dtype = dtype_enum
        # tensor_content is little-endian row-major bytes.
        proto.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return proto


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    shape = tuple([d.size for d in proto.tensor_shape.dim])
    dtype_enum = proto.dtype
    dtype = NUMPY_BY_DTYPE.get(dtype_enum)
    if dtype is None:
        raise UpstreamError(f"TF Serving returned unsupported dtype {_DT.Name(dtype_enum)}")
    count = math.prod(shape)
    if dtype_enum == _DT_STRING:
        flat = np.empty(len(proto.string_val), dtype=object)
        flat[:] = list(proto.string_val)
    elif content := proto.tensor_content:
        # Little-endian on the wire: native order on little-endian hosts, where astype returns the array itself.
        flat = np.frombuffer(content, dtype=_WIRE_DTYPES[dtype_enum]).astype(dtype, copy=False)
    elif dtype_enum == _DT_HALF:
        flat = np.fromiter(proto.half_val, np.uint16, len(proto.half_val)).view(np.float16)
    else:
        # TF Serving's Predict answers in these fields, not tensor_content. fromiter walks upb's container once;
        # asarray goes through the sequence protocol (2.3 vs 0.7 us for 10 floats, 102 vs 78 us for 2560).
        values = getattr(proto, _VAL_FIELD[dtype_enum])
        flat = np.fromiter(values, dtype, len(values))
    if flat.size == count:
        return flat.reshape(shape)
    # TF's proto encoding may store one value for a uniform tensor; it stands for every element.
    if flat.size == 1 or (flat.size == 0 and count == 0):
        return np.broadcast_to(flat, shape).copy() if count else np.empty(shape, dtype)
    raise UpstreamError(f"tensor holds {flat.size} values but its shape {list(shape)} needs {count}")
