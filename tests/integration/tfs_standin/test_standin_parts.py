"""The stand-in's pure parts, imported in-process: flag parsing, version policies, tensor encoding.

The server directory is a script directory, not a package; its modules are prefixed `standin_` so putting it
on sys.path cannot shadow anything.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import tensorflow as tf

from tests.support import processes


@pytest.fixture(scope="module")
def standin(request):
    import sys

    sys.path.insert(0, str(processes.STANDIN_DIR))
    request.addfinalizer(lambda: sys.path.remove(str(processes.STANDIN_DIR)))
    return {name: importlib.import_module(f"standin_{name}") for name in ("flags", "config", "core", "servable")}


def test_both_flag_spellings_and_bare_booleans(standin):
    flags = standin["flags"]
    options = flags.parse_args(
        ["--port", "9000", "--model_base_path=/m", "--enable_batching", "--tensorflow_session_parallelism=3"]
    )
    assert (options.port, options.model_base_path, options.enable_batching) == (9000, "/m", True)
    assert (options.intra_op_threads, options.inter_op_threads) == (3, 3)
    options = flags.parse_args(
        ["--model_base_path=/m", "--enable_batching=false", "--tensorflow_inter_op_parallelism=2"]
    )
    assert options.enable_batching is False
    assert (options.model_name, options.port, options.inter_op_threads) == ("default", 8500, 2)


def test_grpc_channel_arguments_keep_ints_as_ints(standin):
    flags = standin["flags"]
    options = flags.parse_args(["--model_base_path=/m", "--grpc_channel_arguments=grpc.a=5,grpc.b=text"])
    assert flags.grpc_channel_options(options) == [("grpc.a", 5), ("grpc.b", "text")]


@pytest.mark.parametrize(
    ("kind", "kwargs", "expected"),
    [
        ("latest", {}, {9}),
        ("latest", {"num_versions": 2}, {9, 7}),
        ("all", {}, {1, 7, 9}),
        ("specific", {"versions": frozenset({1, 4})}, {1}),
    ],
)
def test_version_policies(standin, kind, kwargs, expected):
    policy = standin["config"].VersionPolicy(kind, **kwargs)
    assert policy.aspired({1, 7, 9}) == expected


def test_only_numeric_directories_are_versions(standin, tmp_path):
    for name in ("1", "20", "code", ".export-3-abc", "7x"):
        (tmp_path / name).mkdir()
    (tmp_path / "5").write_text("a file, not a version")
    assert standin["core"].versions_on_disk(str(tmp_path)) == {1, 20}
    assert standin["core"].versions_on_disk(str(tmp_path / "absent")) is None


@pytest.mark.parametrize(
    ("array", "field"),
    [
        (np.array([[1.5, -2.0]], np.float32), "float_val"),
        (np.array([1.5, 2.25], np.float64), "double_val"),
        (np.array([[0, 255]], np.uint8), "int_val"),
        (np.array([-(2**40), 3], np.int64), "int64_val"),
        (np.array([True, False]), "bool_val"),
        (np.array([b"a", b"\xffbytes"], object), "string_val"),
        (np.array([0.5, -1.0], np.float16), "half_val"),
    ],
)
def test_outputs_use_typed_fields_and_round_trip(standin, array, field):
    dtype = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
    proto = standin["servable"].as_proto_field(array, dtype)
    assert proto.tensor_content == b""
    assert len(getattr(proto, field)) == array.size
    np.testing.assert_array_equal(tf.make_ndarray(proto), array)
