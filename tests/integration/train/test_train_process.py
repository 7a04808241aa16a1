"""`python -m train_container.cli` on temporary /opt/ml trees, exactly as SageMaker would start it."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from tests.integration.train.conftest import BASE_HYPERPARAMETERS, run_train, start_train
from tests.support.models import load_and_call, random_images
from tests.support.sm_tree import colour_accuracy, make_sm_tree
from train_container import metrics

pytestmark = pytest.mark.slow  # real `train` processes training (15-70 s each) (make test-fast leaves it out)

WELL_ABOVE_CHANCE = 0.75  # 4 classes: chance is 0.25. Not 0.9: a MirroredStrategy run on 2 logical CPUs read 0.84 once


def epoch_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("epoch=")]


def assert_trained_model(root):
    version = root / "model" / "1"
    assert (version / "saved_model.pb").is_file()
    assert (version / "assets" / "labels.txt").read_text() == "blue\ngreen\nred\nyellow\n"
    assert colour_accuracy(version) >= WELL_ABOVE_CHANCE
    assert not (root / "output" / "failure").exists()


def test_single_device_trains_logs_metrics_and_exports(sm_tree):
    root = sm_tree({"augment": True}, channels=("train", "validation", "eval"))
    result = run_train(root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "runtime=single replicas=1" in result.stderr
    lines = epoch_lines(result.stdout)
    assert [line.split()[0] for line in lines] == ["epoch=1", "epoch=2"]
    parsed = metrics.parse_line(lines[-1])
    assert set(parsed) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    evaluation = [metrics.parse_line(line) for line in result.stdout.splitlines() if line.startswith("eval_")]
    assert evaluation and evaluation[0]["eval_accuracy"] >= WELL_ABOVE_CHANCE
    assert_trained_model(root)


@pytest.mark.parametrize(
    "runtime", [{}, {"distribution": "mirrored", "cpu_replicas": 2}], ids=["single", "mirrored-2-cpus"]
)
def test_deterministic_runs_of_one_seed_repeat_bit_for_bit(tmp_path, colour_tfrecords, runtime):
    # Augmentation on: its random flips and shifts must repeat too. Without `deterministic` the epoch-1 losses of
    # one seed differ from run to run (measured 0.75-0.94 on the dataset tests' data). Horovod: test_horovod.py.
    hyperparameters = {**BASE_HYPERPARAMETERS, "deterministic": True, "augment": True, **runtime}
    channels = {"train": colour_tfrecords / "train", "validation": colour_tfrecords / "validation"}
    images = random_images(8, seed=3)
    runs = []
    for name in ("first", "second"):
        root = make_sm_tree(tmp_path / name, hyperparameters, channels)
        result = run_train(root)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "deterministic ops: seed 42" in result.stderr
        runs.append((epoch_lines(result.stdout), load_and_call(root / "model" / "1", images)["probabilities"]))
    (lines, probabilities), (again, probabilities_again) = runs
    assert len(lines) == 2 and lines == again
    np.testing.assert_array_equal(probabilities, probabilities_again)


def test_mirrored_on_two_logical_cpus(sm_tree):
    # Twice the global batch means half the updates per epoch: 4 epochs match the single-device run's 2.
    root = sm_tree({"distribution": "mirrored", "cpu_replicas": 2, "augment": False, "epochs": 4})
    result = run_train(root)
    assert result.returncode == 0, result.stderr[-3000:]
    # Global batch 32 and LR x2 across two replicas.
    lr = BASE_HYPERPARAMETERS["learning_rate"] * 2
    assert "runtime=mirrored replicas=2" in result.stderr and f"lr={lr:g}" in result.stderr
    assert len(epoch_lines(result.stdout)) == 4
    assert_trained_model(root)


def test_resumed_run_starts_from_the_checkpoint_epoch(sm_tree):
    root = sm_tree({"epochs": 1, "augment": False})
    first = run_train(root)
    assert first.returncode == 0, first.stderr[-3000:]
    assert [line.split()[0] for line in epoch_lines(first.stdout)] == ["epoch=1"]
    assert (root / "checkpoints" / "ckpt-1.index").is_file()

    sm_tree({"epochs": 3, "augment": False})  # same tree, more epochs: a restarted (spot) job
    second = run_train(root)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "start_epoch=2 of 3" in second.stderr
    assert [line.split()[0] for line in epoch_lines(second.stdout)] == ["epoch=2", "epoch=3"]
    assert (root / "checkpoints" / "ckpt-3.index").is_file()
    assert_trained_model(root)


def test_channel_without_records_fails_with_an_actionable_failure_file(sm_tree, tmp_path):
    root = sm_tree()
    for shard in (root / "input" / "data" / "train").glob("*.tfrecord"):
        shard.unlink()
    result = run_train(root)
    assert result.returncode == 3
    first_line = (root / "output" / "failure").read_text().splitlines()[0]
    # The line names the channel, what it looked for and what the channel does hold.
    train = root / "input" / "data" / "train"
    assert first_line.startswith(f"channel 'train' has no TFRecord files, arrays or image folders under {train}")
    assert "*.tfrecord, *.tfrecords, *.tfr, <name>-NNNNN-of-NNNNN" in first_line
    assert first_line.endswith("it holds labels.txt")
    assert f"ERROR: {first_line}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "model" / "1").exists()


def test_bad_hyperparameter_fails_before_training(sm_tree):
    root = sm_tree({"optimizer": "adagrad"})
    result = run_train(root)
    assert result.returncode == 2
    assert (root / "output" / "failure").read_text().splitlines()[0] == (
        "hyperparameter 'optimizer' must be one of adam, sgd, rmsprop, got 'adagrad'"
    )


def test_sigterm_mid_training_saves_a_checkpoint_and_exits_promptly(sm_tree):
    root = sm_tree({"epochs": 500, "augment": False, "checkpoint_every_epochs": 0})
    running = start_train(root)
    try:
        running.wait_for_line("epoch=1 ", timeout=180)
        running.process.send_signal(signal.SIGTERM)
        returncode = running.process.wait(timeout=60)
    finally:
        if running.process.poll() is None:
            running.process.kill()
    assert returncode == 143
    failure = (root / "output" / "failure").read_text().splitlines()[0]
    assert failure.startswith("stopped by SIGTERM during epoch ")
    # checkpoint_every_epochs=0: the only checkpoint is the one written on SIGTERM.
    assert list((root / "checkpoints").glob("ckpt-*.index"))
    assert not (root / "model" / "1").exists()


def test_pipe_mode_reads_a_new_fifo_per_epoch(sm_tree, colour_tfrecords):
    epochs = 2
    root = sm_tree({"epochs": epochs, "augment": False, "num_classes": 4}, channels=("train",),
                   input_mode="Pipe")  # fmt: skip
    train_dir = root / "input" / "data" / "train"
    for item in train_dir.iterdir():  # in Pipe mode the channel holds no files, only FIFOs beside it
        item.unlink()
    payload = b"".join(p.read_bytes() for p in sorted((colour_tfrecords / "train").glob("*.tfrecord")))
    errors = []

    def pipe_agent():  # SageMaker's role: one FIFO per pass, created after the previous one is drained
        try:
            for epoch in range(epochs):
                fifo = root / "input" / "data" / f"train_{epoch}"
                os.mkfifo(fifo)
                with open(fifo, "wb") as stream:
                    stream.write(payload)
        except OSError as exc:
            errors.append(exc)

    agent = threading.Thread(target=pipe_agent, daemon=True)
    agent.start()
    result = run_train(root)
    agent.join(timeout=5)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not errors
    assert [line.split()[0] for line in epoch_lines(result.stdout)] == ["epoch=1", "epoch=2"]
    assert (root / "model" / "1" / "saved_model.pb").is_file()
    version = root / "model" / "1"
    assert (version / "assets" / "labels.txt").read_text() == "class_0\nclass_1\nclass_2\nclass_3\n"
    assert colour_accuracy(version) >= WELL_ABOVE_CHANCE
