"""An MNIST-style script-mode program as SageMaker users write them (seed 001's mnist-2.py shape): arguments from
hyperparameters, data from SM_CHANNEL_TRAINING (.npy), the model saved as a numbered SavedModel in SM_MODEL_DIR.
With a `records` channel it also reads that channel's TFRecords through our image's public reader."""

import argparse
import json
import os

import numpy as np
import tensorflow as tf


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--model_dir", type=str)
    parser.add_argument("--sm-model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAINING"))
    parser.add_argument("--hosts", type=list, default=json.loads(os.environ.get("SM_HOSTS")))
    parser.add_argument("--current-host", type=str, default=os.environ.get("SM_CURRENT_HOST"))
    return parser.parse_known_args()


if __name__ == "__main__":
    args, unknown = parse_args()
    x = np.load(os.path.join(args.train, "x_train.npy")).astype("float32") / 255.0
    y = np.load(os.path.join(args.train, "y_train.npy"))
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=(28, 28)),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    model.save(os.path.join(args.sm_model_dir, "000000001"))
    report = {
        "argv_unknown": unknown, "model_dir": args.model_dir, "hosts": args.hosts, "current_host": args.current_host,
        "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "accuracy": [float(a) for a in history.history["accuracy"]], "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("SM_", "SAGEMAKER_")) or k in ("CURRENT_HOST", "PYTHONPATH")},
    }
    if os.environ.get("SM_CHANNEL_RECORDS"):
        from train_container import reader

        schema = reader.image_schema("records")
        dataset = reader.image_dataset("records", batch_size=64, shard_index=0, shard_count=1)
        labels = [int(label) for _, batch in dataset for label in batch.numpy()]
        images = dataset.element_spec[0]
        report["records"] = {"image_key": schema.image_key, "label_key": schema.label_key,
                             "shape": images.shape.as_list()[1:], "dtype": images.dtype.name, "labels": labels}
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.json"), "w") as f:
        json.dump(report, f)
