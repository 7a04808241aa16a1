"""The only place that imports protobuf modules named `tensorflow.*`.

In the serving image `tensorflow` is a protos-only package (no TF runtime), as in the DLC inference image, so
only generated `*_pb2` modules may be imported here, never `tensorflow` itself.
"""

from tensorflow.core.example import example_pb2, feature_pb2  # noqa: F401
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: F401
from tensorflow.core.protobuf import meta_graph_pb2  # noqa: F401
from tensorflow_serving.apis import (  # noqa: F401
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2  # noqa: F401
