"""Script mode in the training image, /opt/ml written by hand as SageMaker writes it (JSON-encoded values):
the user's program from /opt/ml/code or from an S3 sourcedir.tar.gz (moto), requirements.txt from a shipped wheel
with no network, a raising program's exception in output/failure, and an unmodified Horovod Keras script on 2 ranks."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.train import script_jobs
from tests.support.docker import docker_run
from tests.support.moto import threaded_moto

USER_HPS = {"epochs": 2, "batch-size": 64, "learning-rate": 0.005, "model_dir": "s3://bucket/job/model"}
CODE = "/opt/ml/code"


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    return script_jobs.mnist_npy(tmp_path_factory.mktemp("mnist"))


def run_job(image, root, *docker_args, env=None):
    return docker_run(image, "train", env=env, docker_args=["-v", f"{root}:/opt/ml", "--shm-size", "1g", *docker_args])


def report(root):
    return json.loads((root / "output" / "data" / "report.json").read_text())


def assert_mnist_trained(root, result):
    assert result.returncode == 0, result.describe()
    version = root / "model" / "000000001"
    assert (version / "saved_model.pb").is_file(), result.describe()
    got = report(root)
    assert got["hosts"] == ["algo-1"] and got["current_host"] == "algo-1"
    assert got["env"]["SM_CHANNEL_TRAINING"] == "/opt/ml/input/data/training"
    assert got["model_dir"] == "s3://bucket/job/model" and got["argv_unknown"] == []
    assert (got["epochs"], got["batch_size"], got["learning_rate"]) == (2, 64, 0.005)
    assert got["accuracy"][-1] > got["accuracy"][0]
    import tensorflow as tf

    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    assert list(serve.structured_outputs.values())[0].shape.as_list() == [None, 10]
    return got


def test_a_script_in_opt_ml_code_trains_and_saves_a_numbered_model(train_image, mnist, tmp_path):
    root = tmp_path / "ml"
    script_jobs.source_dir(root / "code", "mnist_npy.py")
    labels = script_jobs.mnist_tfrecords(mnist, tmp_path / "records")
    script_jobs.script_tree(root, script_jobs.sdk_hyperparameters("mnist_npy.py", CODE, **USER_HPS),
                            {"training": mnist, "records": tmp_path / "records"})  # fmt: skip
    got = assert_mnist_trained(root, run_job(train_image, root))
    assert got["cwd"] == CODE and got["env"]["PYTHONPATH"].split(":")[0] == CODE
    # The script read the `records` channel through train_container.reader: every record, as uint8 RGB.
    records = got["records"]
    assert (records["image_key"], records["label_key"]) == ("image/encoded", "image/class/label")
    assert records["shape"] == [28, 28, 3] and records["dtype"] == "uint8"
    assert sorted(records["labels"]) == sorted(labels)


@pytest.fixture
def moto_s3():
    with threaded_moto() as url:
        yield url


def test_a_script_from_an_s3_sourcedir_tarball(train_image, mnist, tmp_path, moto_s3):
    import boto3

    archive = script_jobs.sourcedir_tarball(script_jobs.source_dir(tmp_path / "src", "mnist_npy.py"),
                                            tmp_path / "sourcedir.tar.gz")  # fmt: skip
    bucket = f"byoc-code-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_s3, region_name=script_jobs.REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": script_jobs.REGION})
    client.upload_file(str(archive), bucket, "job/source/sourcedir.tar.gz")
    uri = f"s3://{bucket}/job/source/sourcedir.tar.gz"
    root = script_jobs.script_tree(tmp_path / "ml", script_jobs.sdk_hyperparameters("mnist_npy.py", uri, **USER_HPS),
                                   {"training": mnist})  # fmt: skip
    env = {"AWS_ENDPOINT_URL": moto_s3, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    got = assert_mnist_trained(root, run_job(train_image, root, "--network", "host", env=env))
    assert got["env"]["SM_MODULE_DIR"] == uri and (root / "code" / "mnist_npy.py").is_file()


def test_a_requirements_txt_wheel_is_installed_without_network(train_image, tmp_path):
    root = tmp_path / "ml"
    wheel = script_jobs.write_wheel(root / "code" / "wheels")
    script_jobs.source_dir(root / "code", "needs_wheel.py", requirements=[f"./wheels/{wheel.name}"])
    script_jobs.script_tree(root, script_jobs.sdk_hyperparameters("needs_wheel.py", CODE))
    result = run_job(train_image, root, "--network", "none")
    assert result.returncode == 0, result.describe()
    got = report(root)
    assert got["value"] == script_jobs.WHEEL_VALUE and "-packages/byoc_testdep/" in got["file"]


def test_a_raising_script_fails_the_job_and_names_its_exception(train_image, tmp_path):
    root = tmp_path / "ml"
    script_jobs.source_dir(root / "code", "raises.py")
    script_jobs.script_tree(root, script_jobs.sdk_hyperparameters("raises.py", CODE, **{"learning-rate": -1}))
    result = run_job(train_image, root)
    assert result.returncode == 1, result.describe()
    headline = (root / "output" / "failure").read_text().splitlines()[0]
    assert headline.startswith("raises.py failed: ValueError: learning rate must be positive, got -1.0 (raises.py, "
                               "line 8: raise ValueError("), headline  # fmt: skip


def test_an_unmodified_horovod_keras_script_runs_two_ranks_on_one_host(train_image, tmp_path):
    root = tmp_path / "ml"
    script_jobs.source_dir(root / "code", "hvd_keras.py")
    hps = script_jobs.sdk_hyperparameters("hvd_keras.py", CODE, sagemaker_mpi_enabled=True,
                                          sagemaker_mpi_num_of_processes_per_host=2,
                                          sagemaker_mpi_custom_mpi_options="--NCCL_DEBUG=INFO")  # fmt: skip
    script_jobs.script_tree(root, hps)
    result = run_job(train_image, root)
    assert result.returncode == 0, result.describe()
    assert "-np 2" in result.stdout and "-x NCCL_DEBUG=INFO" in result.stdout
    for rank in (0, 1):
        assert f"hvd rank {rank}/2 on algo-1 done" in result.stdout, result.describe()
    got = report(root)
    # LearningRateWarmupCallback reached its target through the patched backend: 0.01 x 2 ranks.
    assert got["size"] == 2 and got["lr"] == pytest.approx(0.02)
    assert (root / "model" / "1" / "saved_model.pb").is_file()


def test_a_failing_rank_fails_the_horovod_job_with_its_exception(train_image, tmp_path):
    root = tmp_path / "ml"
    script_jobs.source_dir(root / "code", "raises.py")
    hps = script_jobs.sdk_hyperparameters("raises.py", CODE, sagemaker_mpi_enabled=True,
                                          sagemaker_mpi_num_of_processes_per_host=2,
                                          **{"learning-rate": -1})  # fmt: skip
    script_jobs.script_tree(root, hps)
    result = run_job(train_image, root)
    assert result.returncode != 0, result.describe()
    headline = (root / "output" / "failure").read_text().splitlines()[0]
    assert "ValueError: learning rate must be positive, got -1.0 (raises.py, line 8" in headline, headline
    assert " on rank " in headline, headline


def test_an_mpi_job_naming_an_interface_the_container_lacks_fails_in_one_line(train_image, tmp_path):
    """SDK local mode writes `ethwe` (real SageMaker: the instance's eth0): our launcher names the interfaces present
    before mpirun starts, instead of mpirun's opaque bind failure after the hosts connect."""
    root = tmp_path / "ml"
    script_jobs.source_dir(root / "code", "hvd_keras.py")
    script_jobs.script_tree(root, script_jobs.sdk_hyperparameters("hvd_keras.py", CODE, sagemaker_mpi_enabled=True))
    resource_config = root / "input" / "config" / "resourceconfig.json"
    resource = {**json.loads(resource_config.read_text()), "network_interface_name": "ethwe"}
    resource_config.write_text(json.dumps(resource))
    result = run_job(train_image, root)
    assert result.returncode == 2, result.describe()
    failure = (root / "output" / "failure").read_text().splitlines()
    assert failure[0].startswith("resourceconfig.json network_interface_name 'ethwe' is not an interface of this "
                                 "container (present: "), failure  # fmt: skip
    assert "eth0" in failure[0] and "lo" in failure[0], failure
