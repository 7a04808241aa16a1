"""ParameterServerStrategy's `fit` refuses callbacks with batch-level hooks (batches run asynchronously on
remote workers). `epoch_only` keeps a callback's epoch and train begin/end hooks and hides the rest, so
checkpoints and stop checks still happen, at epoch boundaries.
"""

from __future__ import annotations

import tf_keras


class _EpochOnly(tf_keras.callbacks.Callback):
    def __init__(self, inner: tf_keras.callbacks.Callback):
        super().__init__()
        self._inner = inner

    def set_model(self, model):
        super().set_model(model)
        self._inner.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self._inner.set_params(params)

    def on_train_begin(self, logs=None):
        self._inner.on_train_begin(logs)

    def on_train_end(self, logs=None):
        self._inner.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._inner.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._inner.on_epoch_end(epoch, logs)


def epoch_only(callbacks) -> list[tf_keras.callbacks.Callback]:
    return [_EpochOnly(callback) for callback in callbacks]
