"""The one place that patches Horovod 0.28.1 and TensorFlow 2.16 to work together with tf_keras.

Import Horovod's Keras API only through `horovod_keras()`; it applies both shims exactly once.
"""

from __future__ import annotations

import functools


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


@functools.cache
def horovod_keras():
    """`horovod.tensorflow.keras` with its backend pointed at tf_keras."""
    import tensorflow as tf
    import tf_keras

    # Horovod subclasses `tensorflow.keras` classes at import: that must already be tf_keras.
    if not tf.keras.callbacks.Callback.__module__.startswith("tf_keras"):
        raise RuntimeError("Horovod needs TF_USE_LEGACY_KERAS=1 set before TensorFlow is imported")
    import horovod.tensorflow.keras as hvd
    import horovod.tensorflow.keras.callbacks as hvd_callbacks

    # On TF >= 2.6 Horovod binds `K` to Keras 3's `keras.backend`, which cannot read or set the
    # tf_keras optimizer's learning rate (LearningRateWarmupCallback, LearningRateScheduleCallback use K).
    hvd.K = tf_keras.backend
    hvd_callbacks.K = tf_keras.backend
    skip_autograph_for_tf_keras()
    return hvd
