"""Script mode end to end as a real `train` process on this machine: the user's program from a directory, a
local tarball or S3 (a moto server), its failure read back into output/failure, SIGTERM passed to it.
(The image-only parts, requirements.txt wheels, Horovod and multi-host, are in tests/container/test_script_mode*.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.integration.train import script_jobs
from tests.integration.train.conftest import REPO_ROOT, TRAIN_TIMEOUT_SECONDS, run_train, train_env
from tests.support import processes
from tests.support.moto import threaded_moto

pytestmark = pytest.mark.slow  # real `train` processes running user scripts, ~100 s each


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    return script_jobs.mnist_npy(tmp_path_factory.mktemp("mnist"))


def report(root):
    return json.loads((root / "output" / "data" / "report.json").read_text())


def assert_mnist_trained(root, done):
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "model" / "000000001" / "saved_model.pb").is_file()
    result = report(root)
    assert result["epochs"] == 2 and result["batch_size"] == 64 and result["learning_rate"] == 0.005
    assert result["model_dir"] == "s3://bucket/job/model"  # passed as an argument, as the SDK sets it
    assert result["argv_unknown"] == []  # no sagemaker_* key reached the program
    assert result["hosts"] == ["algo-1"] and result["current_host"] == "algo-1"
    assert result["env"]["SM_CHANNEL_TRAINING"] == str(root / "input" / "data" / "training")
    return result


USER_HPS = {"epochs": 2, "batch-size": 64, "learning-rate": 0.005, "model_dir": "s3://bucket/job/model"}


def test_script_from_a_code_directory_trains_and_saves(mnist, tmp_path):
    root = tmp_path / "ml"
    script_jobs.source_dir(root / "code", "mnist_npy.py")
    hps = script_jobs.sdk_hyperparameters("mnist_npy.py", str(root / "code"), **USER_HPS)
    script_jobs.script_tree(root, hps, {"training": mnist})
    result = assert_mnist_trained(root, run_train(root))
    assert result["cwd"] == str(root / "code")
    assert result["env"]["SM_MODULE_DIR"] == str(root / "code")


def test_script_from_a_local_tarball(mnist, tmp_path):
    archive = script_jobs.sourcedir_tarball(script_jobs.source_dir(tmp_path / "src", "mnist_npy.py"),
                                            tmp_path / "sourcedir.tar.gz")  # fmt: skip
    root = script_jobs.script_tree(tmp_path / "ml", script_jobs.sdk_hyperparameters(
        "mnist_npy.py", str(archive), **USER_HPS), {"training": mnist})  # fmt: skip
    assert_mnist_trained(root, run_train(root))
    assert (root / "code" / "mnist_npy.py").is_file()


@pytest.fixture
def moto_s3():
    with threaded_moto() as url:
        yield url


def upload(endpoint, archive, key="job/source/sourcedir.tar.gz"):
    import boto3

    bucket = f"byoc-code-{uuid.uuid4().hex[:12]}"  # moto's state outlives one server in this process

    client = boto3.client("s3", endpoint_url=endpoint, region_name=script_jobs.REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": script_jobs.REGION})
    client.upload_file(str(archive), bucket, key)
    return f"s3://{bucket}/{key}"


def aws_env(endpoint):
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip


def test_script_from_s3_sourcedir_tarball(mnist, tmp_path, moto_s3):
    archive = script_jobs.sourcedir_tarball(script_jobs.source_dir(tmp_path / "src", "mnist_npy.py"),
                                            tmp_path / "sourcedir.tar.gz")  # fmt: skip
    uri = upload(moto_s3, archive)
    root = script_jobs.script_tree(tmp_path / "ml", script_jobs.sdk_hyperparameters("mnist_npy.py", uri, **USER_HPS),
                                   {"training": mnist})  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "train_container.cli"], env={**train_env(root), **aws_env(moto_s3)},
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=TRAIN_TIMEOUT_SECONDS)  # fmt: skip
    result = assert_mnist_trained(root, done)
    assert result["env"]["SM_MODULE_DIR"] == uri and result["env"]["SAGEMAKER_REGION"] == script_jobs.REGION


def test_a_missing_s3_object_is_a_clear_failure(tmp_path, moto_s3):
    archive = script_jobs.sourcedir_tarball(script_jobs.source_dir(tmp_path / "src", "raises.py"), tmp_path / "a.tgz")
    uri = upload(moto_s3, archive)
    root = script_jobs.script_tree(tmp_path / "ml", script_jobs.sdk_hyperparameters("raises.py", uri + ".missing"))
    done = subprocess.run([sys.executable, "-m", "train_container.cli"], env={**train_env(root), **aws_env(moto_s3)},
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=TRAIN_TIMEOUT_SECONDS)  # fmt: skip
    assert done.returncode != 0
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith(f"could not download sagemaker_submit_directory {uri}.missing"), failure


def test_a_raising_script_fails_the_job_naming_its_exception(tmp_path):
    root = tmp_path / "ml"
    script_jobs.source_dir(root / "code", "raises.py")
    script_jobs.script_tree(root, script_jobs.sdk_hyperparameters("raises.py", str(root / "code"),
                                                                  **{"learning-rate": -1}))  # fmt: skip
    done = run_train(root)
    assert done.returncode == 1, done.stdout + done.stderr
    headline, _, detail = (root / "output" / "failure").read_text().partition("\n\n")
    assert headline == ("raises.py failed: ValueError: learning rate must be positive, got -1.0 "
                        "(raises.py, line 8: raise ValueError(f\"learning rate must be positive, got {value}\"))")
    assert detail.startswith("Traceback (most recent call last):") and "check_learning_rate" in detail
    assert "Traceback" in done.stderr  # the user's stderr still reaches the job's log


def test_a_requirement_that_cannot_be_installed_is_named(tmp_path):
    root = tmp_path / "ml"
    # --no-index: pip answers at once, without the network, and nothing is installed into this venv.
    script_jobs.source_dir(root / "code", "raises.py", requirements=["--no-index", "byoc-not-a-package==1.0"])
    script_jobs.script_tree(root, script_jobs.sdk_hyperparameters("raises.py", str(root / "code")))
    done = run_train(root)
    assert done.returncode != 0
    failure = (root / "output" / "failure").read_text().splitlines()[0]
    assert failure.startswith("requirements.txt: could not install byoc-not-a-package==1.0"), failure
    assert "starting" not in done.stdout  # the program never ran


def test_sigterm_reaches_the_users_program(tmp_path):
    root = tmp_path / "ml"
    script_jobs.source_dir(root / "code", "waits_for_sigterm.py")
    script_jobs.script_tree(root, script_jobs.sdk_hyperparameters("waits_for_sigterm.py", str(root / "code")))
    with processes.run_process([sys.executable, "-m", "train_container.cli"], env=train_env(root),
                               cwd=REPO_ROOT) as train:  # fmt: skip
        train.wait_for(lambda: "ready" in train.log(), timeout=60, what="the program's 'ready'")
        train.proc.send_signal(signal.SIGTERM)
        code = train.wait_exit(timeout=30)
    marker = root / "output" / "data" / "sigterm"
    assert marker.is_file(), train.log()
    assert code == 143, train.log()
    assert (root / "output" / "failure").read_text().startswith("stopped by SIGTERM")


def test_a_failing_parameter_server_worker_fails_the_master_in_seconds(tmp_path):
    """Two hosts as two `train` processes on this machine (hosts 127.0.0.1 and localhost): the worker's program
    raises while the master's runs on; the master stops its program and fails, naming the worker's exception."""
    hosts = ("127.0.0.1", "localhost")  # sorted: 127.0.0.1 is the master
    roots = {}
    for host in hosts:
        root = roots[host] = tmp_path / host
        script_jobs.source_dir(root / "code", "ps_worker_fails.py")
        script_jobs.script_tree(root, script_jobs.sdk_hyperparameters("ps_worker_fails.py", str(root / "code"),
                                                                      sagemaker_parameter_server_enabled=True),
                                hosts=hosts, current_host=host)  # fmt: skip
    command = [sys.executable, "-m", "train_container.cli"]
    with processes.run_process(command, env=train_env(roots["127.0.0.1"]), cwd=REPO_ROOT) as master, \
            processes.run_process(command, env=train_env(roots["localhost"]), cwd=REPO_ROOT) as worker:
        master.wait_for(lambda: "master training" in master.log(), timeout=120, what="the master's program")
        worker_code = worker.wait_exit(timeout=60)
        failed_at = time.monotonic()
        master_code = master.wait_exit(timeout=60)
        seconds = time.monotonic() - failed_at
    assert worker_code == 1, worker.log()
    assert master_code == 1 and seconds < 30, master.log()  # not the 600 s host wait, nor the program's 300 s
    cause = "ps_worker_fails.py failed: ValueError: worker shard is empty (ps_worker_fails.py, line 10"
    assert (roots["localhost"] / "output" / "failure").read_text().startswith(cause)
    headline = (roots["127.0.0.1"] / "output" / "failure").read_text().splitlines()[0]
    assert headline.startswith(f"host localhost failed: {cause}"), headline
