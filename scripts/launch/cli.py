"""`python -m scripts.launch <train|deploy|predict|transform|tune|cleanup> ...` (see --help of each)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scripts.config import (
    ConfigError,
    Settings,
    check_ecr_image_uri,
    check_instance_type,
    check_name,
    check_s3_uri,
    load_settings,
)
from scripts.launch import api_requests as rq


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    result = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"malformed {flag} {item!r} (expected KEY=VALUE)")
        result[key] = value
    return result


def _emit(line: str) -> None:
    print(line, flush=True)


# ------------------------------------------------------------------ arguments


def _common(parser: argparse.ArgumentParser, role: bool) -> None:
    """--region everywhere; --role and --tag where something is created."""
    parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    if role:
        parser.add_argument("--role", help="SageMaker execution role ARN (default: SAGEMAKER_ROLE_ARN)")
        parser.add_argument("--tag", action="append", metavar="KEY=VALUE", help="resource tag (repeatable)")


def _training_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="training image URI in ECR")
    parser.add_argument("--instance-type", default="ml.m5.xlarge")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--volume-size", type=int, default=30, help="GB per instance")
    for channel in rq.CHANNELS:
        parser.add_argument(
            f"--{channel}", metavar="S3_URI", help=f"S3 prefix of the {channel} TFRecord shards"
        )
    parser.add_argument("--input-mode", choices=rq.INPUT_MODES, default="File")
    parser.add_argument("--output-path", required=True, metavar="S3_URI", help="where model.tar.gz goes")
    parser.add_argument("--distribution", choices=rq.DISTRIBUTIONS, default="single")
    parser.add_argument("--processes-per-host", type=int, help="Horovod processes per host (= GPUs)")
    parser.add_argument("--custom-mpi-options", help="extra mpirun options (Horovod)")
    parser.add_argument("--hp", action="append", metavar="NAME=VALUE", help="hyperparameter (repeatable)")
    parser.add_argument(
        "--checkpoint-s3", metavar="S3_URI", help="checkpoints synced from /opt/ml/checkpoints"
    )
    parser.add_argument("--spot", action="store_true", help="managed spot training (needs --max-wait)")
    parser.add_argument("--max-run", type=int, default=24 * 3600, help="seconds")
    parser.add_argument("--max-wait", type=int, help="seconds, spot only, >= --max-run")
    parser.add_argument("--base-job-name", default="byoc-tf")
    parser.add_argument("--job-name", help="exact job name (default: <base-job-name>-<timestamp>)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="launch", description="SageMaker launchers for the BYOC TF images")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="start a training job")
    _common(train, role=True)
    _training_args(train)
    train.add_argument("--wait", action="store_true", help="stream status until the job ends")
    train.add_argument("--poll-seconds", type=float, default=30.0)

    tune = sub.add_parser("tune", help="start a hyperparameter tuning job")
    _common(tune, role=True)
    _training_args(tune)
    tune.add_argument(
        "--range", action="append", required=True, metavar="NAME=KIND:...", help=rq.parse_range.__doc__
    )
    tune.add_argument("--objective", default=rq.OBJECTIVE_METRIC, help="metric to maximise")
    tune.add_argument("--max-jobs", type=int, default=10)
    tune.add_argument("--max-parallel", type=int, default=2)
    tune.add_argument("--strategy", choices=rq.TUNING_STRATEGIES, default="Bayesian")

    deploy = sub.add_parser("deploy", help="model + endpoint config + endpoint")
    _common(deploy, role=True)
    deploy.add_argument("--model-data", required=True, metavar="S3_URI", help="model.tar.gz from training")
    deploy.add_argument("--image", required=True, help="serving image URI in ECR")
    deploy.add_argument("--instance-type", default="ml.m5.xlarge")
    deploy.add_argument("--instance-count", type=int, default=1)
    deploy.add_argument("--name", default=None, help="endpoint name (default: byoc-tf-<timestamp>)")
    deploy.add_argument("--workers", type=int, help="gunicorn workers (SAGEMAKER_GUNICORN_WORKERS)")
    deploy.add_argument("--timeout", type=int, help="SAGEMAKER_GUNICORN_TIMEOUT_SECONDS")
    deploy.add_argument("--enable-batching", action="store_true", help="TF Serving server-side batching")
    deploy.add_argument("--max-batch-size", type=int)
    deploy.add_argument("--batch-timeout-micros", type=int)
    deploy.add_argument("--env", action="append", metavar="NAME=VALUE", help="extra container variable")

    predict = sub.add_parser("predict", help="send one PNG/JPEG image or a TFRecord file to an endpoint")
    _common(predict, role=False)
    predict.add_argument("--endpoint", required=True)
    predict.add_argument("file", type=Path)
    predict.add_argument("--accept", default="application/json")

    transform = sub.add_parser("transform", help="start a batch transform job")
    _common(transform, role=True)
    transform.add_argument("--model-name", help="existing SageMaker model")
    transform.add_argument("--model-data", metavar="S3_URI", help="create a model from this (with --image)")
    transform.add_argument("--image", help="serving image URI in ECR (with --model-data)")
    transform.add_argument("--input", required=True, metavar="S3_URI")
    transform.add_argument("--output", required=True, metavar="S3_URI")
    transform.add_argument("--content-type", default=rq.TFRECORD_CONTENT_TYPE)
    transform.add_argument("--split-type", choices=rq.SPLIT_TYPES, default="TFRecord")
    transform.add_argument("--batch-strategy", choices=rq.BATCH_STRATEGIES, default="MultiRecord")
    transform.add_argument("--max-payload", type=int, default=6, help="MB per request (0-100)")
    transform.add_argument("--max-concurrent", type=int, default=4, help="requests in flight per instance")
    transform.add_argument("--accept", default="application/jsonlines")
    transform.add_argument("--assemble-with", choices=rq.ASSEMBLE_WITH, default="Line")
    transform.add_argument("--instance-type", default="ml.m5.xlarge")
    transform.add_argument("--instance-count", type=int, default=1)
    transform.add_argument("--job-name")

    cleanup = sub.add_parser("cleanup", help="delete an endpoint, its config and its model(s)")
    _common(cleanup, role=False)
    cleanup.add_argument("--endpoint", required=True)
    cleanup.add_argument("--keep-model", action="store_true")
    return parser


# ------------------------------------------------------------------ commands


def _training_spec(args: argparse.Namespace, settings: Settings) -> rq.TrainingSpec:
    channels = {c: check_s3_uri(getattr(args, c), f"--{c}") for c in rq.CHANNELS if getattr(args, c)}
    hyperparameters = _pairs(args.hp, "--hp")
    hyperparameters.update(
        rq.distribution_hyperparameters(args.distribution, args.processes_per_host, args.custom_mpi_options)
    )
    return rq.check_training_spec(
        rq.TrainingSpec(
            image=check_ecr_image_uri(args.image),
            role_arn=settings.role_arn,
            instance_type=check_instance_type(args.instance_type, "training"),
            instance_count=args.instance_count,
            volume_size_gb=args.volume_size,
            channels=channels,
            input_mode=args.input_mode,
            output_path=check_s3_uri(args.output_path, "--output-path"),
            hyperparameters=rq.check_hyperparameters(hyperparameters),
            max_run_seconds=args.max_run,
            checkpoint_s3_uri=check_s3_uri(args.checkpoint_s3, "--checkpoint-s3")
            if args.checkpoint_s3
            else None,
            spot=args.spot,
            max_wait_seconds=args.max_wait,
        )
    )


def _job_name(args: argparse.Namespace) -> str:
    return check_name(args.job_name, "--job-name") if args.job_name else rq.name_from_base(args.base_job_name)


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    request = rq.training_job_request(
        _job_name(args), _training_spec(args, settings), _pairs(args.tag, "--tag")
    )
    calls.create_training_job(request, settings.region)
    _emit(f"created training job {request['TrainingJobName']}")
    if not args.wait:
        return 0
    status, reason = calls.wait_for_training(
        request["TrainingJobName"], settings.region, _emit, args.poll_seconds
    )
    if status != "Completed":
        print(f"launch: training job {request['TrainingJobName']} {status}: {reason}", file=sys.stderr)
        return 1
    return 0


def cmd_tune(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    ranges = [rq.parse_range(text) for text in args.range]
    if args.job_name and len(check_name(args.job_name, "--job-name")) > 32:
        raise ConfigError("tuning job names are at most 32 characters")
    name = args.job_name or rq.name_from_base(args.base_job_name, max_length=32)
    request = rq.tuning_job_request(
        name, _training_spec(args, settings), ranges, args.max_jobs, args.max_parallel, args.strategy,
        _pairs(args.tag, "--tag"), args.objective,
    )  # fmt: skip
    calls.create_tuning_job(request, settings.region)
    _emit(f"created tuning job {name} (objective {args.objective}, Maximize)")
    return 0


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    name = check_name(args.name, "--name") if args.name else rq.name_from_base("byoc-tf")
    environment = rq.serving_environment(
        args.workers, args.timeout, args.enable_batching, args.max_batch_size, args.batch_timeout_micros,
        _pairs(args.env, "--env"),
    )  # fmt: skip
    model = rq.model_request(
        name, check_ecr_image_uri(args.image), check_s3_uri(args.model_data, "--model-data"),
        settings.role_arn, environment,
    )  # fmt: skip
    config = rq.endpoint_config_request(
        name, name, check_instance_type(args.instance_type, "hosting"), args.instance_count
    )
    calls.deploy(
        model, config, rq.endpoint_request(name, name, _pairs(args.tag, "--tag")), settings.region, _emit
    )
    return 0


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    try:
        body = args.file.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {args.file}: {error.strerror}") from error
    content_type = rq.content_type_for(args.file.name, body[:16])
    answer = calls.invoke(args.endpoint, body, content_type, args.accept, settings.region)
    text = answer.decode("utf-8", errors="replace")
    try:
        print(json.dumps(json.loads(text), indent=None))
    except ValueError:
        print(text)
    return 0


def cmd_transform(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    name = (
        check_name(args.job_name, "--job-name") if args.job_name else rq.name_from_base("byoc-tf-transform")
    )
    model = None
    if args.model_name and (args.model_data or args.image):
        raise ConfigError("give either --model-name or --model-data with --image, not both")
    if args.model_name:
        model_name = check_name(args.model_name, "--model-name")
    elif args.model_data and args.image:
        if not settings.role_arn:
            raise ConfigError("no execution role: pass --role or set SAGEMAKER_ROLE_ARN")
        model_name = name
        model = rq.model_request(
            name, check_ecr_image_uri(args.image), check_s3_uri(args.model_data, "--model-data"),
            settings.role_arn, {},
        )  # fmt: skip
    else:
        raise ConfigError("transform needs --model-name, or --model-data with --image")
    spec = rq.TransformSpec(
        model_name=model_name,
        input_s3_uri=check_s3_uri(args.input, "--input"),
        output_s3_uri=check_s3_uri(args.output, "--output"),
        content_type=args.content_type,
        split_type=args.split_type,
        batch_strategy=args.batch_strategy,
        max_payload_mb=args.max_payload,
        max_concurrent_transforms=args.max_concurrent,
        instance_type=check_instance_type(args.instance_type, "transform"),
        instance_count=args.instance_count,
        accept=args.accept,
        assemble_with=args.assemble_with,
    )
    request = rq.transform_job_request(name, spec, _pairs(args.tag, "--tag"))
    calls.create_transform_job(request, settings.region, _emit, model)
    _emit(f"created transform job {name} -> {spec.output_s3_uri}")
    return 0


def cmd_cleanup(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    calls.cleanup(check_name(args.endpoint, "--endpoint"), settings.region, args.keep_model, _emit)
    return 0


COMMANDS = {
    "train": (cmd_train, True),
    "tune": (cmd_tune, True),
    "deploy": (cmd_deploy, True),
    "predict": (cmd_predict, False),
    "transform": (cmd_transform, False),
    "cleanup": (cmd_cleanup, False),
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command, needs_role = COMMANDS[args.command]
    try:
        settings = load_settings(
            region=args.region, role_arn=getattr(args, "role", None), require_role=needs_role
        )
        return command(args, settings)
    except ConfigError as error:
        print(f"launch {args.command}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # AWS/SDK errors: one line, not a traceback
        print(f"launch {args.command}: error: {_describe(error)}", file=sys.stderr)
        return 1


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code')}: {response['Error'].get('Message')}"
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
