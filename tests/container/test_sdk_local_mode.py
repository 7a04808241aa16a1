"""The SageMaker Python SDK's own local mode drives our images, unmodified: the SDK, not us, lays out /opt/ml.

Training: SDK v3 `ModelTrainer(training_mode=Mode.LOCAL_CONTAINER)` with local-path channels (v3 takes plain
paths; `file://` is v2's spelling) writes hyperparameters/resourceconfig/inputdataconfig, mounts the channels, runs
our training image through docker compose and packs /opt/ml/model into model.tar.gz. Unlike SageMaker (and
v2's local mode) it passes no `train` argument, so this also pins train.Dockerfile's `CMD ["train"]`.
Serving: the SDK's local endpoint (sagemaker-core `LocalSession`: create_model with ModelDataUrl=file://...
model.tar.gz, create_endpoint, invoke_endpoint) extracts that archive, mounts it at /opt/ml/model, runs
`IMAGE serve` and waits for /ping. v3 `ModelBuilder`'s local container mode cannot serve a BYOC image: it
`docker pull`s every image (ours exist only locally) and starts only the SDK's known model servers (its
TENSORFLOW_SERVING path accepts MLflow models only). The SDK runs in its own venv (see sdk_local/sdk_venv.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.container.sdk_local import runner, sdk_venv
from tests.support import models, processes

ROOT = Path(__file__).resolve().parents[2]
# Small on purpose: this proves the contract, not accuracy (make demo measures that).
HYPERPARAMETERS = {"epochs": "2", "batch_size": "64", "model": "cnn", "augment": "false", "learning_rate": "0.003"}
MODEL_VERSION = "1"
DIGIT_LABELS = [str(digit) for digit in range(10)]
EPOCH_LINE = re.compile(r"epoch=(\d+) loss=\S+ accuracy=\S+ val_loss=\S+ val_accuracy=\S+")
EVAL_LINE = re.compile(r"eval_loss=\S+ eval_accuracy=\S+")
# Where sagemaker-train's local mode packs /opt/ml/output (also on failure: it retrieves artefacts in a finally).
SDK_OUTPUT_ARCHIVE = Path("compressed_artifacts") / "output.tar.gz"
TRAIN_TIMEOUT_SECONDS = 900
SERVE_TIMEOUT_SECONDS = 600

pytestmark = pytest.mark.timeout(2400)  # first run also builds the SDK venv (~2 min, ~1 GB: mlflow)


def _run_host(*argv: str) -> None:
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=processes.quiet_tf_env(), capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"$ {' '.join(argv)}\n{done.stdout}\n{done.stderr}", pytrace=False)


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    try:
        return sdk_venv.ensure_sdk_venv()
    except sdk_venv.SdkVenvError as error:
        pytest.fail(f"could not build the SageMaker SDK venv:\n{error}", pytrace=False)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """Real scans (scikit-learn digits) as PNG folders, then TFRecord shards the way a user prepares them."""
    base = tmp_path_factory.mktemp("digits")
    _run_host("-m", "scripts.digits", "--output", str(base / "png"))
    _run_host("-m", "scripts.prepare_data", "--source", "folder", "--input", str(base / "png"), "--output",
              str(base / "records"))  # fmt: skip
    return base


@pytest.fixture(scope="module")
def sdk_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    from moto.server import ThreadedMotoServer

    config = tmp_path_factory.mktemp("sdk-config") / "config.yaml"
    config.write_text(runner.SDK_CONFIG_YAML)
    port = processes.free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    try:
        yield runner.sdk_environment(os.environ, config, f"http://127.0.0.1:{port}")
    finally:
        moto.stop()


@pytest.fixture(scope="module")
def trained(sdk_python, sdk_env, train_image, digits, tmp_path_factory) -> runner.DriverRun:
    work = tmp_path_factory.mktemp("sdk-train")
    root = tmp_path_factory.mktemp("sdk-train-root")  # its name is the compose project's: unique per run
    channels = {name: digits / "records" / name for name in ("train", "validation", "eval")}
    argv = runner.train_command(sdk_python, train_image, root, channels, HYPERPARAMETERS, work / "result.json")
    try:
        run = runner.run_driver(argv, sdk_env, work / "result.json", TRAIN_TIMEOUT_SECONDS)
    finally:
        runner.compose_down(root / "docker-compose.yaml")
        runner.remove_containers_under(root)
    if run.returncode != 0:
        pytest.fail(f"ModelTrainer local mode failed:\n{run.describe()}", pytrace=False)
    return run


@pytest.fixture(scope="module")
def model_dir(trained, tmp_path_factory) -> Path:
    """The SDK's model.tar.gz unpacked, as SageMaker hosting would before mounting it."""
    archive = Path(trained.result["model_data"].removeprefix("file://"))
    target = tmp_path_factory.mktemp("sdk-model")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def test_png(digits) -> Path:
    return sorted((digits / "png" / "test" / "7").glob("*.png"))[0]


@pytest.fixture(scope="module")
def served(sdk_python, sdk_env, serve_image, trained, test_png, tmp_path_factory) -> runner.DriverRun:
    work = tmp_path_factory.mktemp("sdk-serve")
    root = tmp_path_factory.mktemp("sdk-serve-root")
    not_an_image = work / "not-an-image.png"
    not_an_image.write_bytes(b"these bytes are not a PNG")
    requests = {"png": ("application/x-image", test_png), "garbage": ("application/x-image", not_an_image)}
    port = processes.free_port()
    result = work / "result.json"
    argv = runner.serve_command(
        sdk_python, serve_image, root, trained.result["model_data"], port, requests, result
    )
    try:
        run = runner.run_driver(argv, sdk_env, result, SERVE_TIMEOUT_SECONDS)
    finally:
        runner.remove_containers_under(root)
        runner.remove_sdk_network()
    if run.returncode != 0:
        pytest.fail(f"SDK local endpoint failed:\n{run.describe()}", pytrace=False)
    return run


def test_model_trainer_runs_our_training_image_with_the_sdk_layout(trained):
    epochs = [int(number) for number in EPOCH_LINE.findall(trained.log)]
    # epochs=2 reached the image only through the hyperparameters.json the SDK wrote.
    assert epochs == [1, 2], f"expected one metrics line per epoch:\n{trained.log}"
    assert len(EVAL_LINE.findall(trained.log)) == 1, f"the eval channel was not evaluated once:\n{trained.log}"
    assert trained.result["model_data"].startswith("file://") and trained.result["model_data"].endswith("model.tar.gz")


def test_sdk_model_archive_holds_a_servable_savedmodel(model_dir):
    version = model_dir / MODEL_VERSION
    assert (version / "saved_model.pb").is_file(), sorted(p.name for p in model_dir.rglob("*"))
    assert models.read_labels(version) == DIGIT_LABELS
    io_spec = models.signature_io(version)
    assert io_spec["inputs"] == {"image": ("uint8", (None, 32, 32, 3))}
    assert io_spec["outputs"] == {"probabilities": ("float32", (None, len(DIGIT_LABELS)))}


def test_sdk_local_endpoint_serves_the_sdk_artifact_and_predicts_a_png(served, model_dir, test_png):
    assert served.result["endpoint_status"] == "InService"
    answer = served.result["responses"]["png"]
    assert answer["status"] == 200, answer
    assert answer["content_type"].startswith("application/json"), answer
    predictions = np.asarray(json.loads(answer["body"])["predictions"], dtype=np.float32)
    assert predictions.shape == (1, len(DIGIT_LABELS))
    assert predictions.sum() == pytest.approx(1.0, abs=1e-4)
    # The endpoint answered with the very model the SDK packed: same PNG through the unpacked SavedModel here.
    pixels = np.asarray(Image.open(io.BytesIO(test_png.read_bytes())).convert("RGB"), dtype=np.uint8)[None]
    expected = models.load_and_call(model_dir / MODEL_VERSION, pixels)["probabilities"]
    np.testing.assert_allclose(predictions, expected, atol=1e-5)


def test_sdk_local_endpoint_rejects_a_non_image_with_a_json_400(served):
    answer = served.result["responses"]["garbage"]
    assert answer["status"] == 400, answer
    assert "error" in json.loads(answer["body"]), answer


def test_a_rejected_hyperparameter_fails_the_sdk_job_with_our_failure_file(
    sdk_python, sdk_env, train_image, digits, tmp_path_factory
):
    work = tmp_path_factory.mktemp("sdk-train-bad")
    root = tmp_path_factory.mktemp("sdk-train-bad-root")
    channels = {"train": digits / "records" / "train"}
    hyperparameters = {**HYPERPARAMETERS, "model": "resnet"}
    argv = runner.train_command(sdk_python, train_image, root, channels, hyperparameters, work / "result.json")
    try:
        run = runner.run_driver(argv, sdk_env, work / "result.json", TRAIN_TIMEOUT_SECONDS)
    finally:
        runner.compose_down(root / "docker-compose.yaml")
        runner.remove_containers_under(root)
    assert run.returncode != 0, run.describe()
    message = "hyperparameter 'model' must be one of cnn, mobilenet_v2, got 'resnet'"
    assert message in run.log, run.describe()
    # /opt/ml/output/failure is what SageMaker turns into FailureReason; the SDK packs it into output.tar.gz.
    with tarfile.open(root / SDK_OUTPUT_ARCHIVE) as tar:
        failure = tar.extractfile("failure")
        assert failure is not None
        assert failure.read().decode().strip() == message


def _pins(constraints: str) -> dict[str, str]:
    pins = {}
    for line in constraints.splitlines():
        name, found, version = line.split("#", 1)[0].strip().partition("==")
        if found:
            pins[name.lower()] = version.strip()
    return pins


def test_sdk_constraints_override_gunicorn_alone():
    project = sdk_venv.project_pins()
    derived = _pins(sdk_venv.sdk_constraints(project))
    expected = {**_pins(project), **sdk_venv.OVERRIDES}
    assert derived == expected
    with pytest.raises(sdk_venv.SdkVenvError, match="not-a-pinned-package"):
        sdk_venv.sdk_constraints(project, {"not-a-pinned-package": "1.0"})


def test_sdk_venv_keeps_the_project_pins(sdk_python):
    """The SDK must not move the stack it talks to: same numpy/protobuf/boto3 as the project, SDK as pinned."""
    pins = _pins(sdk_venv.project_pins())
    names = ["numpy", "protobuf", "boto3", "botocore", "sagemaker-core", "sagemaker-train", "mlflow"]
    probe = (
        "import json, sys; from importlib.metadata import version; "
        "print(json.dumps({n: version(n) for n in sys.argv[1:]}))"
    )
    done = subprocess.run([str(sdk_python), "-c", probe, *names], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {name: pins[name] for name in names}


def test_model_trainer_source_code_trains_a_user_script_in_our_image(
    sdk_python, sdk_env, train_image, tmp_path_factory
):
    """v3 `ModelTrainer(source_code=SourceCode(...))`: the SDK's own sm_train.sh and basic script driver (they need
    bash, python3 and pip3 on PATH) run an MNIST-style user script in our image, which saves a numbered model."""
    from tests.integration.train import script_jobs

    work = tmp_path_factory.mktemp("sdk-script")
    root = tmp_path_factory.mktemp("sdk-script-root")
    source = script_jobs.source_dir(work / "src", "mnist_npy.py")
    channels = {"training": script_jobs.mnist_npy(work / "mnist")}
    hyperparameters = {"epochs": "2", "batch-size": "64", "learning-rate": "0.005"}
    argv = runner.train_command(sdk_python, train_image, root, channels, hyperparameters, work / "result.json",
                                source=(source, "mnist_npy.py"))  # fmt: skip
    try:
        run = runner.run_driver(argv, sdk_env, work / "result.json", TRAIN_TIMEOUT_SECONDS)
    finally:
        runner.compose_down(root / "docker-compose.yaml")
        runner.remove_containers_under(root)
    assert run.returncode == 0, run.describe()
    with tarfile.open(run.result["model_data"].removeprefix("file://")) as tar:
        names = tar.getnames()
    assert any(name.endswith("000000001/saved_model.pb") for name in names), names


# (instances, MPI(...) arguments, host of each rank). The SDK's mpirun `-np` is process_count_per_node (not the total
# over hosts) and fills the first host's slots first, so 2 hosts take `--map-by node` (mpi_additional_options) to
# put one rank on each: the SDK's own way for a user to place ranks.
SDK_MPI_LAYOUTS = {
    "one-host-two-ranks": (1, [], ["algo-1", "algo-1"]),
    "two-hosts-one-rank-each": (2, ["--mpi-option=--map-by", "--mpi-option=node"], ["algo-1", "algo-2"]),
}


@pytest.mark.parametrize("layout", SDK_MPI_LAYOUTS)
def test_model_trainer_distributed_mpi_runs_a_horovod_script_in_our_image(
    layout, sdk_python, sdk_env, train_image, tmp_path_factory
):
    """v3 `ModelTrainer(source_code=..., distributed=MPI(process_count_per_node=2))`: the SDK's own sm_train.sh and
    mpi_driver.py (sshd, paramiko, its mpirun command, `python -m mpi4py`, the job's environment for ranks on other
    hosts through /etc/environment, which sshd's pam_env reads) run an unmodified Horovod Keras script as 2 ranks in
    our image; rank 0 saves the model. The one stand-in: resourceconfig.json names the container's real interface,
    eth0, as SageMaker names the instance's (the SDK's local mode writes `ethwe`; driver.py says why)."""
    from tests.integration.train import script_jobs

    instances, options, rank_hosts = SDK_MPI_LAYOUTS[layout]
    work = tmp_path_factory.mktemp("sdk-mpi")
    root = tmp_path_factory.mktemp("sdk-mpi-root")
    source = script_jobs.source_dir(work / "src", "hvd_keras.py")
    argv = runner.train_command(sdk_python, train_image, root, {}, {}, work / "result.json",
                                source=(source, "hvd_keras.py"))  # fmt: skip
    argv += ["--mpi-processes-per-host", "2", "--network-interface", "eth0", "--instance-count", str(instances)]
    argv += options
    ended = "--- containers: not inspected"
    try:
        run = runner.run_driver(argv, sdk_env, work / "result.json", TRAIN_TIMEOUT_SECONDS)
        ended = runner.describe_containers_under(root)
    finally:
        runner.compose_down(root / "docker-compose.yaml")
        runner.remove_containers_under(root)
    assert run.returncode == 0, run.describe() + "\n" + ended
    assert "Running MPI Driver" in run.log, run.describe()  # the SDK's driver, not our entrypoint
    mpirun = r"Executing command: mpirun .*-np 2 .*btl_tcp_if_include eth0 .*-m mpi4py"
    assert re.search(mpirun, run.log), run.describe()
    for rank, host in enumerate(rank_hosts):
        assert f"hvd rank {rank}/2 on {host} done" in run.log, run.describe()
    with tarfile.open(run.result["model_data"].removeprefix("file://")) as tar:
        names = tar.getnames()
    assert any(name.endswith("1/saved_model.pb") for name in names), names
    with tarfile.open(root / SDK_OUTPUT_ARCHIVE) as tar:
        report = tar.extractfile("data/report.json")
        assert report is not None
        assert json.load(report)["size"] == 2


def test_v2_local_mode_runs_a_user_script_through_our_train(sdk_python, sdk_env, train_image, tmp_path_factory):
    """v2-style `TensorFlow(entry_point=..., image_uri=ours)` local mode: the SDK writes the JSON-encoded
    sagemaker_program / sagemaker_submit_directory hyperparameters, mounts the code at /opt/ml/code and runs
    `IMAGE train`, which must run the user's script (not the built-in trainer)."""
    from tests.integration.train import script_jobs

    work = tmp_path_factory.mktemp("sdk-v2")
    root = tmp_path_factory.mktemp("sdk-v2-root")
    source = script_jobs.source_dir(work / "src", "mnist_npy.py")
    argv = [str(sdk_python), str(runner.DRIVER), "train-v2", "--image", train_image, "--root", str(root),
            "--result", str(work / "result.json"), "--source-dir", str(source), "--entry-script", "mnist_npy.py",
            "--channel", f"training={script_jobs.mnist_npy(work / 'mnist')}", "--hyperparameter", "epochs=2"]
    try:
        run = runner.run_driver(argv, sdk_env, work / "result.json", TRAIN_TIMEOUT_SECONDS)
    finally:
        runner.remove_containers_under(root)
    assert run.returncode == 0, run.describe()
    assert run.result["status"] == "Completed", run.describe()
    assert "script mode: mnist_npy.py from /opt/ml/code" in run.log, run.describe()
    with tarfile.open(run.result["model_data"].removeprefix("file://")) as tar:
        names = tar.getnames()
    assert any(name.endswith("000000001/saved_model.pb") for name in names), names


# `launch pipeline --local` in the SDK venv: sagemaker-mlops' LocalPipelineSession and LocalPipelineExecutor run our
# definition (scripts/launch/sdk_pipeline.py), each job on the SDK's local engine.
ADAPTER_CHECKS = Path(__file__).with_name("sdk_local") / "adapter_checks.py"
PIPELINE_CLASSES = ("0", "1", "7")
PIPELINE_BUCKET = "byoc-pipeline"  # in moto (sdk_env): the S3 the SDK's local pipeline mode reads evaluation.json from
PIPELINE_TIMEOUT_SECONDS = 1500
# Training is seeded but not bit-reproducible on CPU (threaded kernels, parallel tf.data): over 13 runs accuracy
# ranged 0.77-1.0, one CI run read 0.89. The test checks the pipeline's wiring, not the model's quality, so its
# threshold sits well above chance for 3 classes (0.33) and well below what a working model reads.
PIPELINE_THRESHOLD = 0.6
PIPELINE_HYPERPARAMETERS = ("--hp", "epochs=12", "--hp", "batch_size=16", "--hp", "augment=false")


def test_the_pipeline_adapter_checks_pass_against_the_real_sdk(sdk_python, sdk_env):
    """adapter_checks.py, run by pytest inside the SDK venv (the host venv cannot import sagemaker-mlops)."""
    argv = [str(sdk_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest", str(ADAPTER_CHECKS)]
    done = subprocess.run(argv, cwd=ROOT, env=sdk_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert re.search(r"\b7 passed\b", done.stdout), done.stdout  # every check ran, none deselected


def _pipeline_digits(raw: Path) -> None:
    """3 of the digits as PNG folders, 100/20/40 scans per class for train/validation/test."""
    from sklearn.datasets import load_digits

    from scripts import digits

    scans = load_digits()
    for digit in PIPELINE_CLASSES:
        members = np.flatnonzero(scans.target == int(digit))
        splits = (("train", members[:100]), ("validation", members[100:120]), ("test", members[120:160]))
        for split, indices in splits:
            for index in indices:
                path = raw / split / digit / f"digit-{index:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                digits.upscale(scans.images[index], 32).save(path, format="PNG")


def test_launch_pipeline_local_runs_end_to_end_in_the_sdks_local_pipeline_mode(
    sdk_python, sdk_env, train_image, serve_image, tmp_path
):
    """prepare -> train -> model -> batch transform -> evaluate -> condition on our images, executed by the SDK's
    LocalPipelineExecutor: predictions per eval shard and an evaluation.json (read back by the SDK for the
    condition) whose accuracy passes the pipeline's threshold; RegisterModel is reported, not run."""
    import boto3

    raw = tmp_path / "raw"
    _pipeline_digits(raw)
    s3 = boto3.client("s3", endpoint_url=sdk_env["AWS_ENDPOINT_URL"], region_name=runner.REGION,
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket=PIPELINE_BUCKET, CreateBucketConfiguration={"LocationConstraint": runner.REGION})
    argv = [str(sdk_python), "-m", "scripts.launch", "pipeline", "--local", "--name", "byoc-local",
            "--workspace", f"s3://{PIPELINE_BUCKET}/runs", "--input", f"file://{raw}", "--train-image", train_image,
            "--serve-image", serve_image, "--group", "byoc-digits",
            "--accuracy-threshold", str(PIPELINE_THRESHOLD), *PIPELINE_HYPERPARAMETERS]
    try:
        done = subprocess.run(argv, cwd=ROOT, env=sdk_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=PIPELINE_TIMEOUT_SECONDS, check=False)  # fmt: skip
    finally:
        runner.remove_exited_sdk_jobs(train_image, serve_image)
        runner.remove_sdk_network()
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    jobs = ["PrepareData", "Train", "CreateModel", "BatchTransform", "Evaluate", "CheckAccuracy"]
    started = [line for line in lines if line.startswith("sdk: Starting pipeline step: ")]
    assert started == [f"sdk: Starting pipeline step: '{step}'" for step in jobs], done.stdout  # the SDK's executor
    assert [line for line in lines if line.startswith("step ")] == [
        *(f"step {step}: Succeeded" for step in jobs[:-1]), "step CheckAccuracy: Succeeded (Outcome True)",
        "step RegisterModel: not run (RegisterModel is not supported in local mode): would register a model "
        "package in byoc-digits",
    ], done.stdout  # fmt: skip
    assert lines[-1] == "local execution Succeeded"
    [header] = [line for line in lines if line.startswith("local execution ") and "of pipeline" in line]
    run = f"runs/{header.split()[2]}"  # every execution writes under <workspace>/<execution id>/
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=PIPELINE_BUCKET, Prefix=run)
            for item in page.get("Contents", [])]  # fmt: skip
    shards = sorted(k.rsplit("/", 1)[1] for k in keys if k.startswith(f"{run}/data/eval/"))
    predictions = sorted(k.rsplit("/", 1)[1] for k in keys if k.startswith(f"{run}/predictions/"))
    assert shards and predictions == [f"{shard}.out" for shard in shards], keys
    body = s3.get_object(Bucket=PIPELINE_BUCKET, Key=f"{run}/evaluation/evaluation.json")["Body"].read()
    report = json.loads(body)
    assert report["records"] == 40 * len(PIPELINE_CLASSES)
    assert report["multiclass_classification_metrics"]["accuracy"]["value"] >= PIPELINE_THRESHOLD
