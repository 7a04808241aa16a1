"""Checkpoints in `<root>/checkpoints` (synced with S3 by SageMaker) and resume from the newest one.

A checkpoint holds the model, the optimizer (slots, iteration count) and the number of completed
epochs, so a restarted spot job continues where the interrupted one stopped.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import tensorflow as tf
import tf_keras

from train_container.errors import StoppedError
from train_container.runtime import Runtime
from train_container.stopping import StopRequest

MAX_TO_KEEP = 2


class Checkpointer:
    def __init__(self, directory: Path, model: tf_keras.Model, runtime: Runtime):
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="completed_epochs")
        self._checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=self._epoch)
        self._directory = Path(directory)
        self._runtime = runtime
        self._manager = tf.train.CheckpointManager(self._checkpoint, str(directory), max_to_keep=MAX_TO_KEEP)
        self._options = tf.train.CheckpointOptions(experimental_io_device=runtime.io_device)

    @property
    def latest(self) -> str | None:
        return self._manager.latest_checkpoint

    def restore(self) -> int:
        """Load the newest checkpoint if any; return the number of completed epochs (0 = fresh start)."""
        latest = self._manager.latest_checkpoint
        if latest is None:
            return 0
        # Optimizer slots are created lazily on the first step; deferred restoration fills them then.
        self._checkpoint.restore(latest, options=self._options).assert_existing_objects_matched()
        return int(self._epoch.numpy())

    def save(self, completed_epochs: int) -> str | None:
        self._epoch.assign(completed_epochs)
        if self._runtime.is_chief:
            return self._manager.save(checkpoint_number=completed_epochs, options=self._options)
        if self._runtime.collective_save:
            # Every worker must write, non-chiefs to a throwaway directory (TF's documented pattern).
            scratch = tempfile.mkdtemp(prefix="ckpt-worker-")
            try:
                self._checkpoint.write(str(Path(scratch) / "ckpt"), options=self._options)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        return None


class EpochCheckpoint(tf_keras.callbacks.Callback):
    """Save every `every` completed epochs; on a stop request save at once and raise StoppedError."""

    def __init__(self, checkpointer: Checkpointer, every: int, stop: StopRequest | None = None):
        super().__init__()
        self._checkpointer = checkpointer
        self._every = every
        self._stop = stop
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._check_stop()

    def on_epoch_end(self, epoch, logs=None):
        if self._every and (epoch + 1) % self._every == 0:
            self._checkpointer.save(epoch + 1)

    def on_train_batch_end(self, batch, logs=None):
        self._check_stop()

    def on_test_batch_end(self, batch, logs=None):
        self._check_stop()

    def _check_stop(self) -> None:
        if self._stop is None or not self._stop.requested:
            return
        # The running epoch is incomplete: record it as not done, so a resumed job repeats it.
        path = self._checkpointer.save(self._epoch)
        where = f"checkpoint {path} saved" if path else "checkpoint saved by the chief"
        raise StoppedError(
            f"stopped by {self._stop.reason} during epoch {self._epoch + 1}; {where}; "
            "start the job again with the same checkpoints to resume"
        )
