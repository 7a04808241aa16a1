"""A MultiWorkerMirroredStrategy script: the cluster comes from TF_CONFIG, the chief (worker 0) saves."""

import json
import os

import numpy as np
import tensorflow as tf

config = json.loads(os.environ["TF_CONFIG"])
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = tf.keras.Sequential([tf.keras.layers.Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
model.fit(x, (x[:, 0] > 0).astype("int64"), batch_size=16, epochs=1, verbose=0)
chief = config["task"]["index"] == 0
target = os.environ["SM_MODEL_DIR"] if chief else f"/tmp/worker-{config['task']['index']}"
model.save(os.path.join(target, "1"))  # collective under MWMS: every worker saves, only the chief's is kept
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.json"), "w") as f:
    json.dump({"tf_config": config, "replicas": strategy.num_replicas_in_sync}, f)
