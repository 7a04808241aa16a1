"""What a model expects, learnt from TF Serving's GetModelMetadata (signature_def)."""

from __future__ import annotations

import dataclasses

import numpy as np

from serve_container.errors import BadRequest, UpstreamError
from serve_container.protos import get_model_metadata_pb2
from serve_container.tensors import NUMPY_BY_DTYPE, dtype_name

DEFAULT_SIGNATURE = "serving_default"
# SignatureDef.method_name per TF Serving API; Classify and Regress run only signatures of their own kind.
METHOD_NAMES = {
    "predict": "tensorflow/serving/predict",
    "classify": "tensorflow/serving/classify",
    "regress": "tensorflow/serving/regress",
}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None  # None: unknown rank; None dims: any size

    @property
    def is_string(self) -> bool:
        return self.dtype.kind == "O"

    def describe(self) -> str:
        dims = (
            "?"
            if self.shape is None
            else "[" + ",".join("-1" if d is None else str(d) for d in self.shape) + "]"
        )
        return f"{self.name} {'string' if self.is_string else self.dtype.name} {dims}"


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    method_name: str = METHOD_NAMES["predict"]

    def input(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise BadRequest(f"unknown input {name!r}; the model expects {self.input_names()}")

    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def single_input(self) -> TensorSpec:
        if len(self.inputs) != 1:
            raise BadRequest(
                f"this payload type feeds one input but the model has {len(self.inputs)}: "
                f"{self.input_names()}; send JSON with named inputs"
            )
        return self.inputs[0]

    def image_input(self) -> TensorSpec:
        """The input an image feeds: the only one, else the only rank-4 / string one."""
        if len(self.inputs) == 1:
            return self.inputs[0]
        candidates = [s for s in self.inputs if s.is_string or (s.shape is not None and len(s.shape) == 4)]
        if len(candidates) != 1:
            raise BadRequest(f"cannot tell which of the model inputs {self.input_names()} takes an image")
        return candidates[0]


def _spec(name: str, info) -> TensorSpec:
    if info.dtype not in NUMPY_BY_DTYPE:
        raise UpstreamError(f"signature tensor {name!r} has unsupported dtype {dtype_name(info.dtype)}")
    shape = None
    if not info.tensor_shape.unknown_rank:
        shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    return TensorSpec(name, NUMPY_BY_DTYPE[info.dtype], shape)


def signatures_from_metadata(
    response: get_model_metadata_pb2.GetModelMetadataResponse,
) -> dict[str, Signature]:
    if "signature_def" not in response.metadata:
        raise UpstreamError("TF Serving metadata has no signature_def")
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    if not response.metadata["signature_def"].Unpack(sig_map):
        raise UpstreamError("TF Serving metadata signature_def is not a SignatureDefMap")
    result = {}
    for sig_name, sig in sig_map.signature_def.items():
        if sig_name.startswith("__"):  # e.g. __saved_model_init_op: not callable
            continue
        result[sig_name] = Signature(
            name=sig_name,
            inputs=tuple(_spec(k, v) for k, v in sorted(sig.inputs.items())),
            outputs=tuple(_spec(k, v) for k, v in sorted(sig.outputs.items())),
            method_name=sig.method_name,
        )
    return result
