"""Run by mpirun in test_horovod: each rank starts from different random weights, trains a few steps on
its own random batch through our Horovod runtime, and prints a digest of its weights before and after."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import tf_keras

from train_container import contract
from train_container.models import build_model
from train_container.runtimes import multi_process
from train_container.train_loop import build_optimizer


def digest(model: tf_keras.Model) -> str:
    sha = hashlib.sha256()
    for weight in model.get_weights():
        sha.update(np.ascontiguousarray(weight).tobytes())
    return sha.hexdigest()


def main() -> None:
    settings = contract.load()
    hp = settings.hyperparameters
    runtime = multi_process.horovod(settings)
    tf_keras.utils.set_random_seed(1000 + runtime.rank)  # deliberately different starting points
    model = build_model(hp, settings.num_classes)
    model.compile(
        optimizer=runtime.wrap_optimizer(build_optimizer(hp, hp.learning_rate)),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(),
    )
    before = digest(model)
    rng = np.random.default_rng(runtime.rank)
    images = rng.integers(0, 256, size=(32, hp.image_height, hp.image_width, 3), dtype=np.uint8)
    labels = rng.integers(0, settings.num_classes, size=(32,))
    model.fit(images, labels, batch_size=8, epochs=1, callbacks=list(runtime.callbacks), verbose=0)
    probe = {"rank": runtime.rank, "size": runtime.size, "before": before, "after": digest(model)}
    print("PROBE " + json.dumps(probe), flush=True)


if __name__ == "__main__":
    main()
