"""The serving image's `tensorflow` proto namespace: exactly the pb2 closure, never the TF runtime."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "docker" / "build"))
import extract_tf_protos  # noqa: E402

TF_FILES = {
    "tensorflow/__init__.py": "import the_runtime\n",
    "tensorflow/python/__init__.py": "",
    "tensorflow/core/__init__.py": "",
    "tensorflow/core/framework/__init__.py": "",
    "tensorflow/core/framework/tensor_pb2.py": "from tensorflow.core.framework import types_pb2 as t\n",
    "tensorflow/core/framework/types_pb2.py": "X = 1\n",
    "tensorflow/core/framework/unused_pb2.py": "",
    "tensorflow/core/example/example_pb2.py": "from tensorflow.core.example import feature_pb2 as f\n",
    "tensorflow/core/example/feature_pb2.py": "",
    "tensorflow/tsl/protobuf/error_codes_pb2.py": "",
}
TFS_FILES = {
    "tensorflow_serving/apis/predict_pb2.py": (
        "from tensorflow.core.framework import tensor_pb2 as a\n"
        "from tensorflow_serving.apis import model_pb2 as b\n"
    ),
    "tensorflow_serving/apis/model_pb2.py": "from tensorflow.tsl.protobuf import error_codes_pb2 as e\n",
}


def _wheel(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.fixture
def wheels(tmp_path):
    return _wheel(tmp_path / "tf.whl", TF_FILES), _wheel(tmp_path / "tfs.whl", TFS_FILES)


def test_pb2_imports_reads_protoc_import_lines():
    source = (
        "from tensorflow.core.framework import tensor_pb2 as x\nimport os\nfrom google.protobuf import y_pb2\n"
    )
    assert extract_tf_protos.pb2_imports(source) == ["tensorflow.core.framework.tensor_pb2"]


def test_extracts_the_closure_and_package_inits_but_not_the_runtime(wheels, tmp_path):
    tf, tfs = wheels
    dest = tmp_path / "out"
    copied = extract_tf_protos.extract(tf, tfs, dest, ["tensorflow.core.example.example_pb2"])
    assert sorted(copied) == sorted([
        "tensorflow/core/framework/tensor_pb2.py",
        "tensorflow/core/framework/types_pb2.py",
        "tensorflow/core/example/example_pb2.py",
        "tensorflow/core/example/feature_pb2.py",
        "tensorflow/tsl/protobuf/error_codes_pb2.py",
        "tensorflow/core/__init__.py",
        "tensorflow/core/framework/__init__.py",
    ])  # fmt: skip
    assert not (dest / "tensorflow" / "__init__.py").exists()
    assert not (dest / "tensorflow" / "python").exists()
    assert (dest / "tensorflow/core/framework/types_pb2.py").read_text() == "X = 1\n"


def test_extracted_namespace_imports_without_a_tensorflow_distribution(wheels, tmp_path):
    tf, tfs = wheels
    dest = tmp_path / "site"
    extract_tf_protos.extract(tf, tfs, dest, [])
    probe = (
        "import importlib.util as u, sys\n"
        "from tensorflow.core.framework import types_pb2\n"
        "assert types_pb2.X == 1\n"
        "assert u.find_spec('tensorflow.python') is None\n"
    )
    # -I -S: no site-packages, so the host's real TensorFlow cannot shadow the extracted namespace.
    command = [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(dest)!r})\n" + probe]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_missing_imported_module_fails_with_one_line(wheels, tmp_path, capsys):
    tf, tfs = wheels
    code = extract_tf_protos.main([str(tf), str(tfs), str(tmp_path / "o"), "tensorflow.core.nothing_pb2"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "extract_tf_protos: tensorflow.core.nothing_pb2 is imported but not in the TensorFlow wheel"
    )


def test_not_a_wheel_fails_cleanly(tmp_path, capsys):
    bogus = tmp_path / "bogus.whl"
    bogus.write_text("not a zip")
    assert extract_tf_protos.main([str(bogus), str(bogus), str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.startswith("extract_tf_protos: ")
