"""Build-time check of the serving image: TF Serving protos importable, TensorFlow itself absent.

Like the DLC inference image, our Python carries only a `tensorflow` namespace of generated protobuf modules;
a TF runtime sneaking in (e.g. via an unpinned dependency) would add ~1.5 GB and mask missing protos.
"""

import importlib.metadata
import importlib.util
import sys


def problems() -> list[str]:
    found = []
    if importlib.util.find_spec("tensorflow.python") is not None:
        found.append("tensorflow.python (the TF runtime) is importable")
    try:
        version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        found.append(f"tensorflow {version} is installed")
    needed = ("tensorflow_serving.apis.prediction_service_pb2_grpc", "tensorflow.core.example.example_pb2")
    for module in needed:
        if importlib.util.find_spec(module) is None:
            found.append(f"{module} is missing")
    return found


if __name__ == "__main__":
    issues = problems()
    for issue in issues:
        print(f"check_no_tensorflow: {issue}", file=sys.stderr)
    sys.exit(1 if issues else 0)
