"""The one failure path: output/failure first line, exit codes."""

from __future__ import annotations

import json

from train_container import cli
from train_container.errors import ConfigError, DataError, StoppedError


def test_training_errors_keep_their_message_and_code():
    assert cli.describe(ConfigError("hyperparameter 'epochs' must be >= 1, got 0")) == (
        "hyperparameter 'epochs' must be >= 1, got 0", 2, "",
    )  # fmt: skip
    assert cli.describe(DataError("channel 'train' has no *.tfrecord files"))[1] == 3
    assert cli.describe(StoppedError("stopped by SIGTERM"))[1] == 143


def test_unexpected_errors_name_their_type_and_keep_the_traceback():
    try:
        raise KeyError("boom")
    except KeyError as exc:
        message, code, detail = cli.describe(exc)
    assert message == "unexpected error: KeyError: 'boom'" and code == 1
    assert "Traceback" in detail and "test_cli.py" in detail


def test_tensorflow_errors_are_summarised_on_one_line():
    import tensorflow as tf

    try:
        tf.debugging.assert_less(tf.constant(5), tf.constant(3), message="label out of range\nmore detail")
    except tf.errors.InvalidArgumentError as exc:
        message, code, _ = cli.describe(exc)
    assert message.startswith("TensorFlow InvalidArgumentError: label out of range") and code == 1
    assert "\n" not in message


def test_main_writes_the_failure_file_and_returns_non_zero(sm_root, monkeypatch):
    (sm_root / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"epochs": "0"}))
    monkeypatch.setenv("SM_BASE_DIR", str(sm_root))
    assert cli.main() == 2
    first_line = (sm_root / "output" / "failure").read_text().splitlines()[0]
    assert first_line == "hyperparameter 'epochs' must be >= 1, got 0"


def test_failure_is_still_reported_when_the_output_dir_is_unwritable(tmp_path, capsys):
    (tmp_path / "output").write_text("a file where the directory should be")
    assert cli.fail(tmp_path, DataError("channel 'train' is empty")) == 3
    err = capsys.readouterr().err
    assert "ERROR: channel 'train' is empty" in err and "could not write" in err
