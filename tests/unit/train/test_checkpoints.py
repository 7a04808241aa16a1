"""Checkpoint save/restore (model + optimizer + epoch) and the stop-on-SIGTERM path."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from train_container.checkpoints import Checkpointer, EpochCheckpoint
from train_container.errors import StoppedError
from train_container.horovod_compat import skip_autograph_for_tf_keras
from train_container.runtime import Runtime
from train_container.stopping import StopRequest

RUNTIME = Runtime("single", tf.distribute.get_strategy())
skip_autograph_for_tf_keras()  # as train_loop does: ~20 s of AutoGraph on the first fit otherwise


def tiny_model(seed):
    tf_keras.utils.set_random_seed(seed)
    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=tf_keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 3, 16)


def test_restore_brings_back_weights_optimizer_and_epoch(tmp_path):
    x, y = data()
    trained = tiny_model(1)
    trained.fit(x, y, epochs=2, verbose=0)
    Checkpointer(tmp_path, trained, RUNTIME).save(5)

    fresh = tiny_model(2)
    checkpointer = Checkpointer(tmp_path, fresh, RUNTIME)
    assert checkpointer.restore() == 5
    for a, b in zip(trained.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    fresh.fit(x, y, epochs=1, verbose=0, batch_size=16)  # optimizer slots restored lazily on first step
    assert int(fresh.optimizer.iterations.numpy()) == int(trained.optimizer.iterations.numpy()) + 1


def test_no_checkpoint_means_epoch_zero(tmp_path):
    assert Checkpointer(tmp_path, tiny_model(1), RUNTIME).restore() == 0


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    checkpointer = Checkpointer(tmp_path, tiny_model(1), RUNTIME)
    for epoch in (1, 2, 3):
        checkpointer.save(epoch)
    assert sorted(p.name for p in tmp_path.glob("*.index")) == ["ckpt-2.index", "ckpt-3.index"]
    assert checkpointer.latest.endswith("ckpt-3")


def test_non_chief_horovod_rank_writes_nothing(tmp_path):
    worker = Runtime("horovod", tf.distribute.get_strategy(), rank=1, size=2, is_chief=False)
    assert Checkpointer(tmp_path, tiny_model(1), worker).save(1) is None
    assert list(tmp_path.iterdir()) == []


def test_callback_saves_every_n_epochs(tmp_path):
    x, y = data()
    model = tiny_model(1)
    checkpointer = Checkpointer(tmp_path, model, RUNTIME)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[EpochCheckpoint(checkpointer, every=2)])
    assert sorted(p.name for p in tmp_path.glob("*.index")) == ["ckpt-2.index", "ckpt-4.index"]


def test_stop_request_saves_the_running_epoch_and_raises(tmp_path):
    x, y = data()
    model = tiny_model(1)
    checkpointer = Checkpointer(tmp_path, model, RUNTIME)
    stop = StopRequest()

    class StopDuringThirdEpoch(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                stop.request("SIGTERM")

    callbacks = [StopDuringThirdEpoch(), EpochCheckpoint(checkpointer, every=0, stop=stop)]
    with pytest.raises(StoppedError, match="stopped by SIGTERM during epoch 3; checkpoint .*ckpt-2 saved"):
        model.fit(x, y, epochs=10, batch_size=4, verbose=0, callbacks=callbacks)
    assert Checkpointer(tmp_path, tiny_model(3), RUNTIME).restore() == 2
