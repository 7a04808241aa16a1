"""The one place that patches Horovod 0.28.1 and TensorFlow 2.16 to work together with tf_keras.

Two ways in, one patch: our trainer imports Horovod's Keras API through `horovod_keras()`; a user's script
just does `import horovod.tensorflow.keras as hvd`, and the import hook that the image installs at interpreter
start (`install_import_hook`, from a .pth file: see docker/train.Dockerfile) patches it as it loads. The hook
imports nothing itself: it costs a lookup per import and only acts on Horovod's Keras modules.
"""

from __future__ import annotations

import functools
import importlib.abc
import os
import sys

# Modules that bind `K` (the Keras backend) at import time.
HOROVOD_KERAS_MODULES = ("horovod.tensorflow.keras", "horovod.tensorflow.keras.callbacks")
_LEGACY_KERAS_ENV = "TF_USE_LEGACY_KERAS"


def skip_autograph_for_tf_keras() -> None:
    """Stop AutoGraph from converting tf_keras' own code.

    TF 2.16's rule list says DoNotConvert("keras") (Keras 3) but not "tf_keras", so the first `fit()` of
    every process converts all of tf_keras: ~20 s per Horovod rank, spent before any training. tf_keras is
    already graph-safe, so skipping it changes nothing but the start-up time.
    """
    from tensorflow.python.autograph.core import config

    rules = config.CONVERSION_RULES
    if not any(isinstance(rule, config.DoNotConvert) and rule.matches("tf_keras") for rule in rules):
        config.CONVERSION_RULES = (config.DoNotConvert("tf_keras"), *config.CONVERSION_RULES)


def patch_loaded_horovod_keras() -> None:
    """On TF >= 2.6 Horovod binds `K` to Keras 3's `keras.backend`, which cannot read or set the tf_keras
    optimizer's learning rate (LearningRateWarmupCallback, LearningRateScheduleCallback use K): point it at
    tf_keras. Only with TF_USE_LEGACY_KERAS (tf.keras is tf_keras); idempotent."""
    if os.environ.get(_LEGACY_KERAS_ENV, "").lower() not in ("1", "true"):
        return
    import tf_keras

    for name in HOROVOD_KERAS_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            module.K = tf_keras.backend
    skip_autograph_for_tf_keras()


@functools.cache
def horovod_keras():
    """`horovod.tensorflow.keras` with its backend pointed at tf_keras."""
    import tensorflow as tf

    # Horovod subclasses `tensorflow.keras` classes at import: that must already be tf_keras.
    if not tf.keras.callbacks.Callback.__module__.startswith("tf_keras"):
        raise RuntimeError("Horovod needs TF_USE_LEGACY_KERAS=1 set before TensorFlow is imported")
    import horovod.tensorflow.keras as hvd
    import horovod.tensorflow.keras.callbacks  # noqa: F401  (binds its own K)

    patch_loaded_horovod_keras()
    return hvd


class _PatchAfterExec(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:
        self._inner.exec_module(module)
        patch_loaded_horovod_keras()


class _HorovodKerasHook(importlib.abc.MetaPathFinder):
    """Finds Horovod's Keras modules with the other finders, then patches them right after they execute."""

    def find_spec(self, name, path, target=None):
        if name not in HOROVOD_KERAS_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchAfterExec(spec.loader)
                return spec
        return None


def install_import_hook() -> None:
    if not any(isinstance(finder, _HorovodKerasHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _HorovodKerasHook())
