"""`python -m scripts.launch <command> ...`: train, tune, deploy, predict, transform, process, pipeline, register,
cleanup (see --help of each)."""

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
from scripts.launch import local_mode, pipeline, processing


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


def _wait_args(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--wait", action="store_true", help=f"poll until {what}; non-zero exit if it fails")
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="first poll delay (backs off x1.5)")
    parser.add_argument("--max-poll-seconds", type=float, default=60.0, help="longest poll delay")


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


def _local_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local", action="store_true",
        help="run here, on Docker, through the SDK's local mode (file:///abs/path folders work as URIs)",
    )  # fmt: skip


def _processing_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="our training image URI in ECR (it holds the scripts)")
    parser.add_argument("--instance-type", default="ml.m5.xlarge")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--volume-size", type=int, default=30, help="GB per instance")
    parser.add_argument("--max-run", type=int, default=3600, help="seconds")
    parser.add_argument("--job-name", help="exact job name (default: byoc-tf-<step>-<timestamp>)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="launch", description="SageMaker launchers for the BYOC TF images")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="start a training job")
    _common(train, role=True)
    _training_args(train)
    _wait_args(train, "the job ends, streaming its CloudWatch log lines")
    _local_arg(train)

    tune = sub.add_parser("tune", help="start a hyperparameter tuning job")
    _common(tune, role=True)
    _training_args(tune)
    tune.add_argument(
        "--range", action="append", required=True, metavar="NAME=KIND:...", help=rq.parse_range.__doc__
    )
    tune.add_argument("--objective", default=rq.OBJECTIVE_METRIC, help="a training metric definition name")
    tune.add_argument(
        "--objective-type", choices=rq.OBJECTIVE_TYPES, help="default: Minimize for *loss*/*error*, else Maximize"
    )
    tune.add_argument("--max-jobs", type=int, help=f"default {rq.DEFAULT_MAX_JOBS}; Grid: the grid's size")
    tune.add_argument("--max-parallel", type=int, default=2)
    tune.add_argument("--strategy", choices=rq.TUNING_STRATEGIES, default="Bayesian")
    tune.add_argument("--early-stopping", choices=rq.EARLY_STOPPING_TYPES, default="Off")
    tune.add_argument("--hyperband-min-resource", type=int, help="Hyperband: fewest epochs a trial runs")
    tune.add_argument("--hyperband-max-resource", type=int, help="Hyperband: most epochs (default: --hp epochs)")
    tune.add_argument(
        "--warm-start-from", action="append", metavar="TUNING_JOB", help="parent tuning job (repeatable, <= 5)"
    )
    tune.add_argument("--warm-start-type", choices=rq.WARM_START_TYPES, default="IdenticalDataAndAlgorithm")
    _wait_args(tune, "the tuning job ends, then print the best trial")

    deploy = sub.add_parser("deploy", help="model + endpoint config + endpoint")
    _common(deploy, role=True)
    deploy.add_argument("--model-data", metavar="S3_URI", help="model.tar.gz from training (with --image)")
    deploy.add_argument("--image", help="serving image URI in ECR (with --model-data)")
    deploy.add_argument("--model-package", metavar="ARN", help="a registered model package (launch register)")
    deploy.add_argument("--instance-type", default="ml.m5.xlarge")
    deploy.add_argument("--instance-count", type=int, default=1)
    deploy.add_argument("--name", default=None, help="endpoint name (default: byoc-tf-<timestamp>)")
    deploy.add_argument("--workers", type=int, help="gunicorn workers (SAGEMAKER_GUNICORN_WORKERS)")
    deploy.add_argument("--timeout", type=int, help="SAGEMAKER_GUNICORN_TIMEOUT_SECONDS")
    deploy.add_argument("--enable-batching", action="store_true", help="TF Serving server-side batching")
    deploy.add_argument("--max-batch-size", type=int)
    deploy.add_argument("--batch-timeout-micros", type=int)
    deploy.add_argument("--env", action="append", metavar="NAME=VALUE", help="extra container variable")
    _wait_args(deploy, "the endpoint is InService")
    deploy.add_argument(
        "--local", action="store_true",
        help=f"serve here on Docker through the SDK's local mode ({local_mode.SERVING_URL}) until Ctrl-C",
    )  # fmt: skip

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
    _wait_args(transform, "the job ends")
    transform.add_argument(
        "--local", action="store_true",
        help="run here on Docker through the SDK's local mode (--model-data with --image; file:///abs/path URIs)",
    )  # fmt: skip

    process = sub.add_parser("process", help="a Processing job in the training image: prepare data or evaluate")
    steps = process.add_subparsers(dest="step", required=True)
    prepare = steps.add_parser("prepare", help="scripts.prepare_data: images on S3 -> TFRecord shards on S3")
    prepare.add_argument("--input", required=True, metavar="S3_URI", help="image tree, or the CIFAR-10 tarball")
    prepare.add_argument("--output", required=True, metavar="S3_URI", help="shards go to <output>/<split>/")
    prepare.add_argument("--source", choices=processing.PREPARE_SOURCES, default="folder")
    prepare.add_argument("--shard-multiple", type=int, default=8)
    prepare.add_argument("--records-per-shard", type=int, default=4096)
    prepare.add_argument("--validation-fraction", type=float, default=0.0)
    prepare.add_argument("--seed", type=int, default=0)
    prepare.add_argument(
        "--labels-in", action="append", choices=rq.CHANNELS,
        help="splits that get a labels.txt copy (default all; leave out a split you batch-transform)",
    )  # fmt: skip
    evaluate = steps.add_parser("evaluate", help="scripts.evaluate: batch transform output -> evaluation.json")
    evaluate.add_argument("--predictions", required=True, metavar="S3_URI", help="the transform job's output")
    evaluate.add_argument("--tfrecords", required=True, metavar="S3_URI", help="its input shards (+ labels.txt)")
    evaluate.add_argument("--output", required=True, metavar="S3_URI", help="evaluation.json + confusion matrix")
    evaluate.add_argument(
        "--class-names", metavar="S3_URI", help="labels.txt (default: the one beside the shards)"
    )
    for step in (prepare, evaluate):
        _common(step, role=True)
        _processing_args(step)
        _wait_args(step, "the job ends")
        _local_arg(step)

    flow = sub.add_parser(
        "pipeline", help="upsert the SageMaker Pipeline prepare -> train -> transform -> evaluate -> register"
    )
    _common(flow, role=True)
    flow.add_argument("--name", default="byoc-tf", help="pipeline name")
    flow.add_argument("--workspace", required=True, metavar="S3_URI", help="each execution writes under here")
    flow.add_argument("--input", required=True, metavar="S3_URI", help="images (or the CIFAR-10 tarball)")
    flow.add_argument("--source", choices=processing.PREPARE_SOURCES, default="folder")
    flow.add_argument("--validation-fraction", type=float, default=0.1)
    flow.add_argument("--train-image", required=True, help="training image URI in ECR")
    flow.add_argument("--serve-image", required=True, help="serving image URI in ECR")
    flow.add_argument("--group", required=True, help="model package group the passing model is registered in")
    flow.add_argument("--distribution", choices=rq.DISTRIBUTIONS, default="single")
    flow.add_argument("--processes-per-host", type=int, help="Horovod processes per host (= GPUs)")
    flow.add_argument("--custom-mpi-options", help="extra mpirun options (Horovod)")
    flow.add_argument("--hp", action="append", metavar="NAME=VALUE", help="hyperparameter (repeatable)")
    flow.add_argument("--input-mode", choices=rq.INPUT_MODES, default="File")
    flow.add_argument("--processing-instance-type", default="ml.m5.xlarge")
    flow.add_argument("--training-instance-type", default="ml.m5.xlarge")
    flow.add_argument("--training-instance-count", type=int, default=1)
    flow.add_argument("--transform-instance-type", default="ml.m5.xlarge")
    flow.add_argument("--accuracy-threshold", type=float, default=0.95, help="register only at or above")
    flow.add_argument("--approval", choices=rq.APPROVAL_STATUSES, default="PendingManualApproval")
    flow.add_argument("--print-definition", action="store_true", help="print the checked JSON; send nothing")
    flow.add_argument("--start", action="store_true", help="start an execution after the upsert")
    flow.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="execution parameter override (with --start)"
    )
    _wait_args(flow, "the execution ends (implies --start)")
    flow.add_argument(
        "--local", action="store_true",
        help="execute here in the SDK's local pipeline mode (needs sagemaker-mlops; s3:// workspace, file:// input ok)",
    )  # fmt: skip

    register = sub.add_parser("register", help="model package (group) in the Model Registry")
    _common(register, role=False)
    register.add_argument("--group", required=True, help="model package group (created if missing)")
    register.add_argument("--model-data", required=True, metavar="S3_URI", help="model.tar.gz from training")
    register.add_argument("--image", required=True, help="serving image URI in ECR")
    register.add_argument("--evaluation", metavar="S3_URI", help="evaluation JSON (ModelQuality statistics)")
    register.add_argument("--approval", choices=rq.APPROVAL_STATUSES, default="PendingManualApproval")
    register.add_argument("--description")
    register.add_argument("--tag", action="append", metavar="KEY=VALUE", help="group tag (repeatable)")

    cleanup = sub.add_parser("cleanup", help="delete an endpoint, its config and its model(s)")
    _common(cleanup, role=False)
    cleanup.add_argument("--endpoint", required=True)
    cleanup.add_argument("--keep-model", action="store_true")
    return parser


# ------------------------------------------------------------------ commands


def _training_spec(args: argparse.Namespace, settings: Settings) -> rq.TrainingSpec:
    local = getattr(args, "local", False)
    channels = {
        c: local_mode.check_uri(getattr(args, c), f"--{c}", local) for c in rq.CHANNELS if getattr(args, c)
    }
    hyperparameters = _pairs(args.hp, "--hp")
    hyperparameters.update(
        rq.distribution_hyperparameters(args.distribution, args.processes_per_host, args.custom_mpi_options)
    )
    return rq.check_training_spec(
        rq.TrainingSpec(
            image=args.image if local else check_ecr_image_uri(args.image),  # local: any image Docker has
            role_arn=settings.role_arn or local_mode.ROLE_ARN,
            instance_type=check_instance_type(args.instance_type, "training"),
            instance_count=args.instance_count,
            volume_size_gb=args.volume_size,
            channels=channels,
            input_mode=args.input_mode,
            output_path=local_mode.check_uri(args.output_path, "--output-path", local),
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
    if args.local:
        description = _run_locally("CreateTrainingJob", request, "training job", request["TrainingJobName"], settings)
        _emit(f"{request['TrainingJobName']}: {description['TrainingJobStatus']} -> "
              f"{description['ModelArtifacts']['S3ModelArtifacts']}")  # fmt: skip
        return 0
    calls.create_training_job(request, settings.region)
    _emit(f"created training job {request['TrainingJobName']}")
    return _wait(args, settings, "training", request["TrainingJobName"]) if args.wait else 0


def _wait(args: argparse.Namespace, settings: Settings, kind: str, name: str) -> int:
    """Polls until `name` settles; a failure prints its FailureReason on one stderr line and returns 1."""
    from scripts.launch import sagemaker_calls as calls
    from scripts.launch import watch

    sagemaker = calls.client(settings.region)
    tail = watch.LogTail(calls.client(settings.region, "logs"), name) if kind == "training" else None
    backoff = watch.Backoff(initial=args.poll_seconds, maximum=max(args.poll_seconds, args.max_poll_seconds))
    outcome = watch.watch(sagemaker, kind, name, _emit, backoff, tail=tail)
    if not outcome.ok:
        reason = f": {outcome.failure_reason}" if outcome.failure_reason else ""
        print(f"launch {args.command}: {watch.KINDS[kind].what} {name} {outcome.status}{reason}", file=sys.stderr)
        return 1
    if kind == "tuning":
        summary = watch.best_trial(outcome.description)
        _emit(summary or f"{name}: no best trial reported")
    return 0


def cmd_tune(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    if args.job_name and len(check_name(args.job_name, "--job-name")) > 32:
        raise ConfigError("tuning job names are at most 32 characters")
    name = args.job_name or rq.name_from_base(args.base_job_name, max_length=32)
    tuning = rq.TuningSpec(
        ranges=tuple(rq.parse_range(text) for text in args.range),
        strategy=args.strategy,
        max_jobs=args.max_jobs,
        max_parallel=args.max_parallel,
        objective=args.objective,
        objective_type=args.objective_type,
        early_stopping=args.early_stopping,
        warm_start_parents=tuple(check_name(p, "--warm-start-from") for p in args.warm_start_from or ()),
        warm_start_type=args.warm_start_type,
        hyperband_min_resource=args.hyperband_min_resource,
        hyperband_max_resource=args.hyperband_max_resource,
    )
    request = rq.tuning_job_request(name, _training_spec(args, settings), tuning, _pairs(args.tag, "--tag"))
    calls.create_tuning_job(request, settings.region)
    objective = request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    _emit(f"created tuning job {name} (objective {objective['MetricName']}, {objective['Type']})")
    return _wait(args, settings, "tuning", name) if args.wait else 0


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    name = check_name(args.name, "--name") if args.name else rq.name_from_base("byoc-tf")
    environment = rq.serving_environment(
        args.workers, args.timeout, args.enable_batching, args.max_batch_size, args.batch_timeout_micros,
        _pairs(args.env, "--env"),
    )  # fmt: skip
    if args.model_package and (args.image or args.model_data):
        raise ConfigError("give either --model-package or --model-data with --image, not both")
    if args.model_package:
        model = rq.model_from_package_request(name, args.model_package, settings.role_arn, environment)
    elif args.image and args.model_data:
        model = rq.model_request(
            name, args.image if args.local else check_ecr_image_uri(args.image),
            local_mode.check_uri(args.model_data, "--model-data", args.local),
            settings.role_arn or local_mode.ROLE_ARN, environment,
        )  # fmt: skip
    else:
        raise ConfigError("deploy needs --model-package, or --model-data with --image")
    config = rq.endpoint_config_request(
        name, name, check_instance_type(args.instance_type, "hosting"), args.instance_count
    )
    if args.local:
        return _serve_locally(model, config, rq.endpoint_request(name, name, {}), settings)
    calls.deploy(
        model, config, rq.endpoint_request(name, name, _pairs(args.tag, "--tag")), settings.region, _emit
    )
    return _wait(args, settings, "endpoint", name) if args.wait else 0


def _serve_locally(model: dict, config: dict, endpoint: dict, settings: Settings) -> int:
    import signal
    import threading

    from scripts.launch.validation import check_request

    if "ModelPackageName" in model["PrimaryContainer"]:
        raise ConfigError("--local serves --model-data with --image (a model package lives in AWS)")
    for operation, request in (("CreateModel", model), ("CreateEndpointConfig", config), ("CreateEndpoint", endpoint)):
        check_request(operation, local_mode.checked_form(request))
    _emit(f"starting endpoint {endpoint['EndpointName']} locally (SageMaker SDK local mode)")
    stopped = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopped.set())
    stop = local_mode.serve(model, config, endpoint, settings.region)
    try:
        _emit(f"{endpoint['EndpointName']}: InService at {local_mode.SERVING_URL}/invocations (Ctrl-C stops it)")
        stopped.wait()
    finally:
        stop()
        _emit(f"{endpoint['EndpointName']}: stopped")
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
    if args.model_name and args.local:
        raise ConfigError("--local transforms --model-data with --image (a SageMaker model lives in AWS)")
    if args.model_name:
        model_name = check_name(args.model_name, "--model-name")
    elif args.model_data and args.image:
        if not (settings.role_arn or args.local):
            raise ConfigError("no execution role: pass --role or set SAGEMAKER_ROLE_ARN")
        model_name = name
        model = rq.model_request(
            name, args.image if args.local else check_ecr_image_uri(args.image),  # local: any image Docker has
            local_mode.check_uri(args.model_data, "--model-data", args.local),
            settings.role_arn or local_mode.ROLE_ARN, {},
        )  # fmt: skip
    else:
        raise ConfigError("transform needs --model-name, or --model-data with --image")
    spec = rq.TransformSpec(
        model_name=model_name,
        input_s3_uri=local_mode.check_uri(args.input, "--input", args.local),
        output_s3_uri=local_mode.check_uri(args.output, "--output", args.local),
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
    if args.local:
        description = _run_locally("CreateTransformJob", request, "transform job", name, settings, model)
        _emit(f"{name}: {description['TransformJobStatus']} -> {spec.output_s3_uri}")
        return 0
    calls.create_transform_job(request, settings.region, _emit, model)
    _emit(f"created transform job {name} -> {spec.output_s3_uri}")
    return _wait(args, settings, "transform", name) if args.wait else 0


def _run_locally(
    operation: str, request: dict, what: str, name: str, settings: Settings, model: dict | None = None
) -> dict:
    """Checks the request (and the model a transform creates) as AWS would, then runs it on the local engine."""
    from scripts.launch.validation import check_request

    if model is not None:
        check_request("CreateModel", local_mode.checked_form(model))
    check_request(operation, local_mode.checked_form(request))
    _emit(f"running {what} {name} locally (SageMaker SDK local mode)")
    if model is not None:
        local_mode.create_model(model, settings.region)
    return local_mode.run(operation, request, settings.region)


def processing_resources(args: argparse.Namespace, settings: Settings) -> processing.Resources:
    return processing.Resources(
        image=args.image if args.local else check_ecr_image_uri(args.image),  # local: any image Docker has
        role_arn=settings.role_arn or local_mode.ROLE_ARN,
        instance_type=check_instance_type(args.instance_type, "processing"),
        instance_count=args.instance_count,
        volume_size_gb=args.volume_size,
        max_run_seconds=args.max_run,
    )


def cmd_process(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    resources = processing_resources(args, settings)
    if args.step == "prepare":
        spec = processing.prepare_data_spec(
            resources, args.input, args.output, args.source, args.shard_multiple, args.records_per_shard,
            args.validation_fraction, args.seed, tuple(args.labels_in or ()),
        )  # fmt: skip
    else:
        spec = processing.evaluation_spec(
            resources, args.predictions, args.tfrecords, args.output, args.class_names
        )
    name = check_name(args.job_name, "--job-name") if args.job_name else rq.name_from_base(f"byoc-tf-{args.step}")
    request = processing.processing_job_request(name, spec, _pairs(args.tag, "--tag"))
    if args.local:
        description = _run_locally("CreateProcessingJob", request, "processing job", name, settings)
        _emit(f"{name}: {description['ProcessingJobStatus']} -> {', '.join(o.s3_uri for o in spec.outputs)}")
        return 0
    calls.create_processing_job(request, settings.region)
    _emit(f"created processing job {name} -> {', '.join(o.s3_uri for o in spec.outputs)}")
    return _wait(args, settings, "processing", name) if args.wait else 0


def cmd_pipeline(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch.validation import check_pipeline_definition

    name = check_name(args.name, "--name")
    hyperparameters = _pairs(args.hp, "--hp")
    hyperparameters.update(
        rq.distribution_hyperparameters(args.distribution, args.processes_per_host, args.custom_mpi_options)
    )
    image = (lambda value: value) if args.local else check_ecr_image_uri  # local: any image Docker has
    spec = pipeline.PipelineSpec(
        workspace=check_workspace(args.workspace, args.local),
        raw_input=local_mode.check_uri(args.input, "--input", args.local),
        train_image=image(args.train_image),
        serve_image=image(args.serve_image),
        role_arn=settings.role_arn or local_mode.ROLE_ARN,
        model_package_group=check_name(args.group, "--group"),
        source=args.source,
        validation_fraction=args.validation_fraction,
        hyperparameters=rq.check_hyperparameters(hyperparameters),
        input_mode=args.input_mode,
        processing_instance_type=check_instance_type(args.processing_instance_type, "processing"),
        training_instance_type=check_instance_type(args.training_instance_type, "training"),
        training_instance_count=args.training_instance_count,
        transform_instance_type=check_instance_type(args.transform_instance_type, "transform"),
        accuracy_threshold=args.accuracy_threshold,
        approval=args.approval,
    )
    definition = check_pipeline_definition(pipeline.definition(spec))
    overrides = _pairs(args.param, "--param")
    unknown = set(overrides) - {p["Name"] for p in definition["Parameters"]}
    if unknown:
        raise ConfigError(f"--param {', '.join(sorted(unknown))}: not a parameter of the pipeline")
    if args.print_definition:
        print(json.dumps(definition, indent=2))
        return 0
    if args.local:
        return _run_pipeline_locally(definition, overrides, name, settings)
    from scripts.launch import sagemaker_calls as calls

    create, update = pipeline.upsert_requests(
        name, definition, settings.role_arn, "BYOC TensorFlow: prepare, train, evaluate, register",
        _pairs(args.tag, "--tag"),
    )  # fmt: skip
    group = rq.model_package_group_request(spec.model_package_group, "BYOC TensorFlow models", {})
    _emit(calls.upsert_pipeline(definition, create, update, group, settings.region, _emit))
    if not (args.start or args.wait):
        return 0
    arn = calls.start_pipeline(pipeline.start_request(name, overrides), settings.region)
    _emit(f"started {arn}")
    return _wait(args, settings, "pipeline", arn) if args.wait else 0


def check_workspace(workspace: str, local: bool) -> str:
    """An S3 URI, with --local too: the SDK's local pipeline executor reads a property file (our evaluation.json)
    from S3 only (sagemaker-mlops' LocalPipelineExecutor parses the output's URI as s3://)."""
    if local and not workspace.startswith("s3://"):
        raise ConfigError(
            f"--workspace {workspace}: --local needs an s3:// workspace (the SDK's local pipeline mode reads "
            "evaluation.json from S3: AWS S3, or an S3-compatible server through AWS_ENDPOINT_URL_S3)"
        )
    return check_s3_uri(workspace, "--workspace")


def _run_pipeline_locally(definition: dict, overrides: dict[str, str], name: str, settings: Settings) -> int:
    try:
        from scripts.launch import sdk_pipeline
    except ImportError as missing:  # the host venv: mlops cannot live next to the serving stack's gunicorn pin
        raise ConfigError(
            f"--local runs the pipeline in the SageMaker SDK's local pipeline mode, which needs sagemaker-mlops: "
            f"pip install -e '.[launch,pipelines]' ({missing})"
        ) from None
    return sdk_pipeline.run_locally(definition, overrides, name, settings.region, _emit)


def cmd_register(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.launch import sagemaker_calls as calls

    group = check_name(args.group, "--group")
    package = rq.model_package_request(
        group, check_ecr_image_uri(args.image), check_s3_uri(args.model_data, "--model-data"), args.approval,
        check_s3_uri(args.evaluation, "--evaluation") if args.evaluation else None, args.description,
    )  # fmt: skip
    group_request = rq.model_package_group_request(group, "BYOC TensorFlow models", _pairs(args.tag, "--tag"))
    print(calls.register(group_request, package, settings.region, _emit))
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
    "process": (cmd_process, True),
    "pipeline": (cmd_pipeline, True),
    "register": (cmd_register, False),
    "cleanup": (cmd_cleanup, False),
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command, needs_role = COMMANDS[args.command]
    try:
        settings = load_settings(
            region=args.region, role_arn=getattr(args, "role", None),
            require_role=needs_role and not getattr(args, "local", False),
        )  # fmt: skip
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
