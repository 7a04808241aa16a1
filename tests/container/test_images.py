"""What the two product images must carry, proven by running commands inside them.

Training: TF 2.16.2, Horovod built with TF + MPI + Gloo, mpi4py talking to the image's own Open MPI, sshd and
its configuration. Serving: flask, gunicorn and the TF Serving protos WITHOUT TensorFlow in the Python, and a
`tensorflow_model_server` that answers. Both: `docker run IMAGE train|serve` semantics and no host CA inside.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest

from dev import machine_cache
from tests.support.docker import docker_run, image_config, run_ok

PY = "python3"
HOST_LOCAL_CAS = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))


def parse_check_build(text: str) -> dict[str, dict[str, bool]]:
    """`horovodrun --check-build` output as {section: {feature: enabled}}."""
    sections: dict[str, dict[str, bool]] = {}
    current = None
    for line in text.splitlines():
        header = re.match(r"^Available (.+):$", line.strip())
        item = re.match(r"^\[(X| )\]\s+(\S+)$", line.strip())
        if header:
            current = sections.setdefault(header.group(1), {})
        elif item and current is not None:
            current[item.group(2)] = item.group(1) == "X"
    return sections


def test_parse_check_build_reads_marks():
    sample = "Available Frameworks:\n  [X] TensorFlow\n  [ ] PyTorch\n\nAvailable Controllers:\n  [X] MPI\n"
    assert parse_check_build(sample) == {"Frameworks": {"TensorFlow": True, "PyTorch": False},
                                         "Controllers": {"MPI": True}}  # fmt: skip


# --- training image


def test_train_horovod_is_built_with_tensorflow_mpi_and_gloo(train_image):
    build = parse_check_build(run_ok(train_image, "horovodrun", "--check-build"))
    assert build["Frameworks"]["TensorFlow"] is True
    assert build["Controllers"]["MPI"] is True
    assert build["Controllers"]["Gloo"] is True
    assert build["Tensor Operations"]["MPI"] is True
    assert build["Tensor Operations"]["Gloo"] is True


def test_train_horovod_is_the_host_built_wheel_not_a_second_compile(train_image):
    # The local base matches the host venv's ABI, so the image must install the wheel the host compiled
    # (dev/machine_cache.py), byte for byte, instead of compiling Horovod again.
    wheel = machine_cache.cached_wheel(machine_cache.horovod_wheel_dir())
    assert wheel is not None, "no Horovod wheel in the machine cache: dev/ensure_venv.sh builds it"
    with zipfile.ZipFile(wheel) as archive:
        member = next(name for name in archive.namelist() if re.fullmatch(r"horovod/tensorflow/mpi_lib.*\.so", name))
        expected = hashlib.sha256(archive.read(member)).hexdigest()
    find = "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('horovod').origin))"
    package_dir = run_ok(train_image, PY, "-c", find).strip()
    installed = run_ok(train_image, "sha256sum", f"{Path(package_dir).parent}/{member}").split()[0]
    assert installed == expected, f"{member} in {train_image} is not the one in {wheel.name}: compiled again?"


def test_train_imports_pinned_tensorflow_and_horovod(train_image):
    script = (
        "import json, tensorflow as tf, tf_keras, horovod.tensorflow as hvd, train_container\n"
        "hvd.init()\n"
        "print(json.dumps({'tf': tf.__version__, 'keras': tf_keras.__version__, 'size': hvd.size(),\n"
        "                  'mpi': hvd.mpi_built(), 'gloo': hvd.gloo_built()}))\n"
    )
    out = run_ok(train_image, PY, "-c", script, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert json.loads(out.strip().splitlines()[-1]) == {
        "tf": "2.16.2", "keras": "2.16.0", "size": 1, "mpi": True, "gloo": True,
    }  # fmt: skip


def test_train_mpi4py_runs_two_ranks_on_the_image_open_mpi(train_image):
    script = (
        "from mpi4py import MPI\n"
        "comm = MPI.COMM_WORLD\n"
        "total = comm.allreduce(comm.Get_rank() + 1)\n"
        "lib = MPI.Get_library_version()\n"
        "print(f'rank={comm.Get_rank()} size={comm.Get_size()} total={total} lib={lib!r}')\n"
    )
    out = run_ok(
        train_image, "mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", PY, "-c", script,
        env={"OMPI_MCA_btl_vader_single_copy_mechanism": "none"},
    )  # fmt: skip
    ranks = sorted(re.findall(r"rank=(\d) size=(\d) total=(\d)", out))
    assert ranks == [("0", "2", "3"), ("1", "2", "3")], out
    assert "Open MPI" in out
    mpirun_version = run_ok(train_image, "mpirun", "--version").splitlines()[0]
    library = re.search(r"Open MPI v(\d+\.\d+\.\d+)", out)
    assert library and library.group(1) in mpirun_version, (out, mpirun_version)


def test_train_horovod_allreduce_across_two_processes(train_image):
    script = (
        "import horovod.tensorflow as hvd, tensorflow as tf\n"
        "hvd.init()\n"
        "total = int(hvd.allreduce(tf.constant(hvd.rank() + 1), op=hvd.Sum).numpy())\n"
        "print(f'rank={hvd.rank()} sum={total}', flush=True)\n"
    )
    out = run_ok(
        train_image, "horovodrun", "-np", "2", "-H", "localhost:2", PY, "-c", script,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "OMPI_MCA_btl_vader_single_copy_mechanism": "none"},
    )  # fmt: skip
    assert sorted(re.findall(r"rank=(\d) sum=(\d+)", out)) == [("0", "3"), ("1", "3")], out


def test_train_sshd_is_installed_and_its_config_is_valid(train_image):
    run_ok(train_image, "/usr/sbin/sshd", "-t")
    assert "OpenSSH" in docker_run(train_image, "ssh", "-V").stderr


def test_train_image_runs_train_like_sagemaker(train_image):
    config = image_config(train_image)
    assert config["Cmd"] == ["train"]
    assert config["Entrypoint"] == ["/usr/local/bin/byoc-entrypoint"]
    assert run_ok(train_image, "sh", "-c", "command -v train").strip().endswith("/train")


# --- serving image


def test_serve_has_protos_flask_gunicorn_but_no_tensorflow(serve_image):
    script = (
        "import importlib.metadata as md, importlib.util as iu, json\n"
        "import flask, gunicorn, serve_container\n"
        "from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc\n"
        "import tensorflow_serving.apis.model_service_pb2_grpc\n"
        "from tensorflow.core.framework import tensor_pb2, types_pb2\n"
        "from tensorflow.core.example import example_pb2\n"
        "request = predict_pb2.PredictRequest()\n"
        "request.model_spec.name = 'm'\n"
        "request.inputs['image'].CopyFrom(tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8, int_val=[1, 2]))\n"
        "again = predict_pb2.PredictRequest.FromString(request.SerializeToString())\n"
        "try:\n"
        "    tf_version = md.version('tensorflow')\n"
        "except md.PackageNotFoundError:\n"
        "    tf_version = None\n"
        "print(json.dumps({'roundtrip': list(again.inputs['image'].int_val),\n"
        "                  'stub': hasattr(prediction_service_pb2_grpc, 'PredictionServiceStub'),\n"
        "                  'tf_version': tf_version,\n"
        "                  'tf_runtime': iu.find_spec('tensorflow.python') is not None,\n"
        "                  'tfs_api': md.version('tensorflow-serving-api'), 'flask': md.version('flask')}))\n"
    )
    facts = json.loads(run_ok(serve_image, PY, "-c", script).strip().splitlines()[-1])
    assert facts["roundtrip"] == [1, 2]
    assert facts["stub"] is True
    assert facts["tf_version"] is None
    assert facts["tf_runtime"] is False
    assert facts["tfs_api"] == "2.16.1"
    assert facts["flask"]


def test_serve_importing_tensorflow_runtime_fails(serve_image):
    result = docker_run(serve_image, PY, "-c", "import tensorflow.python")
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr


def test_serve_tensorflow_model_server_answers(serve_image):
    out = run_ok(serve_image, "tensorflow_model_server", "--version")
    assert "TensorFlow ModelServer" in out


def test_serve_image_runs_serve_like_sagemaker(serve_image):
    config = image_config(serve_image)
    assert config["Cmd"] == ["serve"]
    assert config["Entrypoint"] == ["/usr/local/bin/byoc-entrypoint"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert run_ok(serve_image, "sh", "-c", "command -v serve").strip().endswith("/serve")


# --- both


@pytest.mark.parametrize("which", ["train_image", "serve_image"])
def test_no_ca_certificate_beyond_the_distributions_and_no_host_ca_inside_image(which, request):
    # Runs on every host: whatever CAs the build host trusts, the image may hold only the CAs its own
    # ca-certificates package ships (update-ca-certificates adds /usr/local/share/ca-certificates too: empty).
    image = request.getfixturevalue(which)
    counts = run_ok(
        image, "sh", "-c",
        "ls -A /usr/local/share/ca-certificates 2>/dev/null | wc -l; "
        "grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt; "
        "find /usr/share/ca-certificates -name '*.crt' | wc -l",
    ).split()  # fmt: skip
    local, bundled, shipped = (int(count) for count in counts)
    assert local == 0, f"{image} has certificates in /usr/local/share/ca-certificates"
    assert 0 < bundled <= shipped, f"{image}'s CA bundle holds {bundled} certificates; its distribution ships {shipped}"
    # And, where this host trusts CAs of its own (an intercepting proxy's), none of them anywhere in the image.
    bundles = run_ok(
        image, "sh", "-c",
        "cat /etc/ssl/certs/ca-certificates.crt; "
        "python3 -c 'import certifi; print(open(certifi.where()).read())' 2>/dev/null || true; "
        "find /etc /usr /opt \\( -name '*.crt' -o -name '*.pem' \\) -type f -exec cat {} + 2>/dev/null"
        " || true",
    )  # fmt: skip
    for ca in HOST_LOCAL_CAS:
        body = "".join(line for line in ca.read_text().splitlines() if not line.startswith("-----"))
        flat = bundles.replace("\n", "")
        assert body not in flat, f"host CA {ca.name} found inside {image}"
