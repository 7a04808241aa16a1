"""An unmodified Horovod Keras script (the DLC docs' pattern): hvd.init, DistributedOptimizer, hvd.callbacks,
rank 0 saves. Nothing in it knows about TF 2.16, tf_keras or this image."""

import json
import os

import horovod.tensorflow.keras as hvd
import numpy as np
import tensorflow as tf

hvd.init()
rng = np.random.default_rng(hvd.rank())
x = rng.normal(size=(256, 8)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")
model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu", input_shape=(8,)),
                             tf.keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer=hvd.DistributedOptimizer(tf.keras.optimizers.Adam(0.01 * hvd.size())),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
callbacks = [
    hvd.callbacks.BroadcastGlobalVariablesCallback(0),
    hvd.callbacks.MetricAverageCallback(),
    hvd.callbacks.LearningRateWarmupCallback(initial_lr=0.01 * hvd.size(), warmup_epochs=2, verbose=0),
]
history = model.fit(x, y, batch_size=32, epochs=3, callbacks=callbacks, verbose=2 if hvd.rank() == 0 else 0)
print(f"hvd rank {hvd.rank()}/{hvd.size()} on {os.environ['SM_CURRENT_HOST']} done", flush=True)
if hvd.rank() == 0:
    model.save(os.path.join(os.environ["SM_MODEL_DIR"], "1"))
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.json"), "w") as f:
        json.dump({"size": hvd.size(), "lr": float(tf.keras.backend.get_value(model.optimizer.lr)),
                   "accuracy": [float(a) for a in history.history["accuracy"]]}, f)
