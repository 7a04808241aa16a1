"""gRPC servicers: PredictionService (Predict, Classify, Regress, GetModelMetadata) and ModelService
(GetModelStatus, HandleReloadConfigRequest).

MultiInference is left to the generated base class, which answers UNIMPLEMENTED.
"""

from __future__ import annotations

import logging

import grpc
import standin_config
from standin_core import ModelManager
from standin_servable import ServingError
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

SIGNATURE_DEF_FIELD = "signature_def"
log = logging.getLogger("tfs_standin")


def _abort(context: grpc.ServicerContext, error: ServingError):
    context.abort(error.code, error.message)


def _version_of(model_spec) -> int | None:
    return model_spec.version.value if model_spec.HasField("version") else None


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager):
        self._manager = manager

    def _run(self, method: str, request, response, context):
        try:
            if not request.model_spec.name:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified.")
            servable = self._manager.servable(
                request.model_spec.name, _version_of(request.model_spec), request.model_spec.version_label
            )
            getattr(servable, method)(request, response)
        except ServingError as err:
            log.debug("%s failed: %s", method, err.message)
            _abort(context, err)
        return response

    def Predict(self, request, context):
        return self._run("predict", request, predict_pb2.PredictResponse(), context)

    def Classify(self, request, context):
        return self._run("classify", request, classification_pb2.ClassificationResponse(), context)

    def Regress(self, request, context):
        return self._run("regress", request, regression_pb2.RegressionResponse(), context)

    def GetModelMetadata(self, request, context):
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        try:
            if not request.HasField("model_spec"):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
            if not request.metadata_field:
                raise ServingError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "GetModelMetadataRequest must specify at least one metadata_field",
                )
            for field in request.metadata_field:
                if field != SIGNATURE_DEF_FIELD:
                    raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
            servable = self._manager.servable(
                request.model_spec.name, _version_of(request.model_spec), request.model_spec.version_label
            )
        except ServingError as err:
            _abort(context, err)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self._manager = manager

    def GetModelStatus(self, request, context):
        response = get_model_status_pb2.GetModelStatusResponse()
        try:
            if not request.HasField("model_spec"):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
            states = self._manager.status(request.model_spec.name, _version_of(request.model_spec))
        except ServingError as err:
            _abort(context, err)
        for state in states:
            entry = response.model_version_status.add(version=state.version, state=state.state)
            entry.status.error_code = state.error_code
            entry.status.error_message = state.error_message
        return response

    def HandleReloadConfigRequest(self, request, context):
        """As model_service_impl.cc: only a model_config_list; the error is both the response's status and the
        RPC's status; the call returns once the new models are available."""
        response = model_management_pb2.ReloadConfigResponse()
        if request.config.WhichOneof("config") != "model_config_list":
            code, message = grpc.StatusCode.INVALID_ARGUMENT, (
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is "
                "currently supported"
            )
        else:
            try:
                models = standin_config.model_configs_from_message(request.config, "ReloadConfigRequest")
                for model in models:
                    log.info("Config entry: name: %s base_path: %s", model.name, model.base_path)
                error = self._manager.reload(models, context.is_active)
                code, message = (grpc.StatusCode.UNKNOWN, error) if error else (grpc.StatusCode.OK, "")
            except standin_config.ConfigError as err:
                code, message = grpc.StatusCode.INVALID_ARGUMENT, str(err)
        response.status.error_code = code.value[0]
        response.status.error_message = message
        if code != grpc.StatusCode.OK:
            log.error("ReloadConfig failed: %s", message)
            context.set_code(code)
            context.set_details(message)
        return response
