"""The two Horovod 0.28.1 / TF 2.16 shims, checked by behaviour in one real (size-1) Horovod process."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def hvd():
    # What the `train` entrypoint does first (contract.apply_runtime_env), before TensorFlow loads.
    from train_container.contract import apply_runtime_env
    from train_container.horovod_compat import horovod_keras

    apply_runtime_env()

    module = horovod_keras()
    module.init()
    return module


def test_warmup_callback_drives_a_tf_keras_optimizer(hvd):
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)])
    model.compile(optimizer=hvd.DistributedOptimizer(tf_keras.optimizers.SGD(0.1, momentum=0.9)), loss="mse")
    seen = []
    record = tf_keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(float(tf_keras.backend.get_value(model.optimizer.lr)))
    )
    # momentum_correction must be off: tf_keras >= 2.11 optimizers keep momentum as a Python float,
    # which Horovod's correction cannot set (why the train loop does its own warm-up instead).
    warmup = hvd.callbacks.LearningRateWarmupCallback(
        initial_lr=0.1, warmup_epochs=2, momentum_correction=False, verbose=0
    )
    x, y = np.ones((8, 4), "float32"), np.zeros((8, 2), "float32")
    # Without the backend shim this raises inside Horovod (Keras 3's backend cannot set a tf_keras LR).
    model.fit(x, y, batch_size=4, epochs=3, callbacks=[warmup, record], verbose=0)
    assert seen[-1] == pytest.approx(0.1)
    assert len(seen) == 3


def test_autograph_leaves_tf_keras_alone(hvd):
    import tf_keras
    from tensorflow.python.autograph.impl import conversion

    assert conversion.is_allowlisted(tf_keras.layers.Dense.call)
    assert not conversion.is_allowlisted(test_autograph_leaves_tf_keras_alone)


def test_the_import_hook_patches_a_plain_horovod_import_as_the_image_does():
    """What the image's .pth line does at interpreter start: a user's own `import horovod.tensorflow.keras` gets
    tf_keras' backend (without the hook it keeps Keras 3's, which breaks the learning-rate callbacks)."""
    import subprocess
    import sys

    from tests.support.processes import quiet_tf_env

    probe = ("import sys; {hook}import tf_keras, horovod.tensorflow.keras as hvd, "
             "horovod.tensorflow.keras.callbacks as cb; print(hvd.K is tf_keras.backend, cb.K is tf_keras.backend)")
    hook = "import train_container.horovod_compat as h; h.install_import_hook(); "
    results = []
    for prefix in (hook, ""):
        done = subprocess.run([sys.executable, "-c", probe.format(hook=prefix)], env=quiet_tf_env(),
                              capture_output=True, text=True, timeout=180, check=True)  # fmt: skip
        results.append(done.stdout.split()[-2:])
    assert results == [["True", "True"], ["False", "False"]]
