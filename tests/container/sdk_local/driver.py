"""Runs INSIDE the SDK venv (sdk_venv.py): the SageMaker SDK v3, used as a user would, on our images.

    driver.py train --image IMG --root DIR --channel train=DIR ... --hyperparameter epochs=2 ... --result OUT.json
    driver.py serve --image IMG --root DIR --model-data file://.../model.tar.gz --port N
                    --request NAME:CONTENT_TYPE:FILE ... --result OUT.json

`train` uses sagemaker-train's ModelTrainer in Mode.LOCAL_CONTAINER: the SDK writes /opt/ml/input/config/*.json,
mounts the channels and runs the image with docker compose, then packs /opt/ml/model as model.tar.gz.
`serve` uses sagemaker-core's LocalSession (the SDK's local endpoint for any image: v3 ModelBuilder's local
container mode only runs the SDK's own model servers and always `docker pull`s the image): the SDK extracts
model.tar.gz, mounts it at /opt/ml/model, runs `IMAGE serve`, waits for /ping, and `invoke_endpoint` POSTs to
/invocations. Results go to --result as JSON; the pytest side asserts on them. Imports nothing from this repo.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REGION = "us-west-2"
JOB_NAME = "byoc-sdk-local"
# Where sagemaker-train's _LocalContainer.retrieve_artifacts packs the model (it logs this path; train() returns
# nothing in local mode).
ARTIFACT = Path("compressed_artifacts") / "model.tar.gz"


def _pairs(values: list[str], separator: str = "=") -> dict[str, str]:
    pairs = {}
    for value in values:
        key, found, rest = value.partition(separator)
        if not found or not key:
            raise SystemExit(f"expected KEY{separator}VALUE, got {value!r}")
        pairs[key] = rest
    return pairs


def _write_resourceconfig_interface(interface: str) -> None:
    """Make the SDK's local resourceconfig.json name `interface`, the container's real one.

    sagemaker-train's _LocalContainer._write_config_files hard-codes `"network_interface_name": "ethwe"` (Weave's
    interface, from SageMaker's early clusters), which no compose container has, so mpirun cannot bind to it.
    Real SageMaker writes the instance's real interface (eth0 on current instances): this stands in for that
    one value and nothing else; the SDK still writes every file and runs its own sm_train.sh and drivers.
    """
    from sagemaker.train.local.local_container import _LocalContainer

    original = _LocalContainer._write_config_files

    def write_config_files(self, host, input_data_config, hyper_parameters):
        original(self, host, input_data_config, hyper_parameters)
        path = Path(self.container_root, host, "input", "config", "resourceconfig.json")
        resource = json.loads(path.read_text())
        resource["network_interface_name"] = interface
        path.write_text(json.dumps(resource))

    _LocalContainer._write_config_files = write_config_files


def train(args: argparse.Namespace) -> dict:
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, SourceCode
    from sagemaker.train.distributed import MPI
    from sagemaker.train.model_trainer import Mode

    if args.network_interface:
        _write_resourceconfig_interface(args.network_interface)
    root = Path(args.root).resolve()
    trainer = ModelTrainer(
        training_image=args.image,
        training_mode=Mode.LOCAL_CONTAINER,
        local_container_root=str(root),
        compute=Compute(instance_type="local_cpu", instance_count=args.instance_count),
        hyperparameters=_pairs(args.hyperparameter),
        base_job_name=JOB_NAME,
        # A user's own script: the SDK replaces the image's entrypoint with its sm_train.sh and drivers.
        **({"source_code": SourceCode(source_dir=args.source_dir, entry_script=args.entry_script)}
           if args.source_dir else {}),
        **({"distributed": MPI(process_count_per_node=args.mpi_processes_per_host,
                               mpi_additional_options=args.mpi_option or None)}
           if args.mpi_processes_per_host else {}),
    )
    channels = [InputData(channel_name=name, data_source=path) for name, path in _pairs(args.channel).items()]
    trainer.train(input_data_config=channels, wait=True)
    artifact = root / ARTIFACT
    if not artifact.is_file():
        raise SystemExit(f"ModelTrainer finished but {artifact} does not exist")
    return {"model_data": artifact.as_uri(), "compose_file": str(root / "docker-compose.yaml")}


def _invoke(session, endpoint: str, content_type: str, body: bytes) -> dict:
    response = session.sagemaker_runtime_client.invoke_endpoint(
        Body=body, EndpointName=endpoint, ContentType=content_type, Accept="application/json"
    )
    return {
        "status": response["ResponseMetadata"]["HTTPStatusCode"],
        "content_type": response["ContentType"],
        "body": response["Body"].read().decode("utf-8", errors="replace"),
    }


def serve(args: argparse.Namespace) -> dict:
    import boto3
    from sagemaker.core.local.local_session import LocalSession

    session = LocalSession(boto_session=boto3.Session(region_name=REGION))
    session.config = {"local": {"serving_port": args.port, "container_root": str(Path(args.root).resolve())}}
    client = session.sagemaker_client
    client.create_model(
        ModelName=JOB_NAME,
        PrimaryContainer={"Image": args.image, "ModelDataUrl": args.model_data, "Environment": {}},
    )
    variant = {"VariantName": "AllTraffic", "ModelName": JOB_NAME, "InitialInstanceCount": 1, "InstanceType": "local"}
    client.create_endpoint_config(EndpointConfigName=JOB_NAME, ProductionVariants=[variant])
    try:
        client.create_endpoint(EndpointName=JOB_NAME, EndpointConfigName=JOB_NAME)  # returns once /ping is 200
        status = client.describe_endpoint(EndpointName=JOB_NAME)["EndpointStatus"]
        responses = {}
        for name, request in _pairs(args.request, ":").items():
            content_type, _, path = request.rpartition(":")
            responses[name] = _invoke(session, JOB_NAME, content_type, Path(path).read_bytes())
    finally:
        client.delete_endpoint(EndpointName=JOB_NAME)
    return {"endpoint_status": status, "responses": responses}


def train_v2(args: argparse.Namespace) -> dict:
    """v2-style script mode through the SDK's local training engine (sagemaker-core's LocalSession, v2's
    `_SageMakerContainer`): the hyperparameters a v2 `TensorFlow(entry_point=...)` estimator sends, JSON-encoded, with
    the source dir as `file://` (the SDK mounts it at /opt/ml/code and rewrites the key); the image runs `train`."""
    import boto3
    from sagemaker.core.local.local_session import LocalSession

    root = Path(args.root).resolve()
    session = LocalSession(boto_session=boto3.Session(region_name=REGION))
    session.config = {"local": {"container_root": str(root)}}
    name = f"{JOB_NAME}-v2"
    hyperparameters = {
        "sagemaker_program": args.entry_script,
        "sagemaker_submit_directory": Path(args.source_dir).resolve().as_uri(),
        "sagemaker_container_log_level": 20,
        "sagemaker_job_name": name,
        "sagemaker_region": REGION,
        "model_dir": "/opt/ml/model",
        **_pairs(args.hyperparameter),
    }
    channels = [{"ChannelName": channel, "DataSource": {"FileDataSource": {
        "FileDataDistributionType": "FullyReplicated", "FileUri": Path(path).resolve().as_uri()}}}
        for channel, path in _pairs(args.channel).items()]  # fmt: skip
    output = root / "output"
    session.sagemaker_client.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": args.image, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": output.as_uri()},
        ResourceConfig={"InstanceType": "local", "InstanceCount": 1},
        InputDataConfig=channels,
        HyperParameters={key: json.dumps(value) for key, value in hyperparameters.items()},
    )
    status = session.sagemaker_client.describe_training_job(TrainingJobName=name)
    return {"status": status["TrainingJobStatus"], "model_data": status["ModelArtifacts"]["S3ModelArtifacts"]}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "train-v2", "serve"):
        command = commands.add_parser(name)
        command.add_argument("--image", required=True)
        command.add_argument("--root", required=True, help="the SDK's local container root")
        command.add_argument("--result", required=True, type=Path)
    commands.choices["train"].add_argument("--channel", action="append", default=[], help="NAME=DIR")
    commands.choices["train"].add_argument("--hyperparameter", action="append", default=[], help="NAME=VALUE")
    commands.choices["train"].add_argument("--source-dir", help="the user's code (ModelTrainer source_code)")
    commands.choices["train"].add_argument("--entry-script", help="its entry script")
    commands.choices["train"].add_argument("--instance-count", type=int, default=1)
    commands.choices["train"].add_argument("--mpi-processes-per-host", type=int,
                                           help="distributed=MPI(process_count_per_node=N) (needs --source-dir)")
    commands.choices["train"].add_argument("--mpi-option", action="append", default=[],
                                           help="one word of MPI(mpi_additional_options=...)")
    commands.choices["train"].add_argument("--network-interface",
                                           help="the interface resourceconfig.json names (SageMaker: the instance's)")
    v2 = commands.choices["train-v2"]
    v2.add_argument("--channel", action="append", default=[], help="NAME=DIR")
    v2.add_argument("--hyperparameter", action="append", default=[], help="NAME=VALUE")
    v2.add_argument("--source-dir", required=True)
    v2.add_argument("--entry-script", required=True)
    commands.choices["serve"].add_argument("--model-data", required=True, help="file://.../model.tar.gz")
    commands.choices["serve"].add_argument("--port", required=True, type=int)
    commands.choices["serve"].add_argument("--request", action="append", default=[], help="NAME:CONTENT_TYPE:FILE")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = {"train": train, "train-v2": train_v2, "serve": serve}[args.command](args)
    args.result.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
