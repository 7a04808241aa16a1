"""Models taking uint8 images [N, H, W, C] named `image`, returning softmax `probabilities`; C is
hp.image_channels: 3, or 1 for grey data (hyperparameters.model_channels).

Normalisation is a layer inside each model, so the exported SavedModel takes raw pixels and serving
cannot drift from training.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from tf_keras import layers

from train_container.hyperparameters import Hyperparameters

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


def build_model(hp: Hyperparameters, num_classes: int) -> tf_keras.Model:
    shape = (hp.image_height, hp.image_width, hp.image_channels)
    inputs = tf_keras.Input(shape=shape, dtype="uint8", name=INPUT_NAME)
    builder = {"cnn": _cifar10_cnn, "mobilenet_v2": _mobilenet_v2}[hp.model]
    # Rescaling casts the uint8 pixels to float32 itself.
    features = builder(inputs, hp)
    outputs = layers.Dense(num_classes, activation="softmax", name=OUTPUT_NAME)(features)
    return tf_keras.Model(inputs, outputs, name=hp.model)


def _cifar10_cnn(pixels, hp: Hyperparameters):
    """The Keras cifar10_cnn example (seed 004), with inputs scaled to [0, 1] in-graph."""
    x = layers.Rescaling(1.0 / 255)(pixels)
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    return layers.Dropout(0.5)(x)


def _mobilenet_v2(pixels, hp: Hyperparameters):
    """Transfer learning as in seed 003: MobileNetV2 features, global pooling, a new softmax head."""
    weights = None if hp.mobilenet_weights == "none" else hp.mobilenet_weights
    base = tf_keras.applications.MobileNetV2(
        input_shape=(hp.image_height, hp.image_width, hp.image_channels),
        include_top=False,
        weights=weights,
        pooling="avg",
    )
    # Random weights must train; frozen pretrained features are the usual transfer-learning start.
    base.trainable = weights is None or not hp.freeze_base
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(pixels)  # MobileNetV2 expects [-1, 1]
    x = base(x, training=False if not base.trainable else None)
    return layers.Dropout(0.2)(x)


def to_channels(images: tf.Tensor, channels: int) -> tf.Tensor:
    """Stored pixels [..., C] to the model's channels: a grey model keeps grey; an RGB one repeats grey and drops
    alpha (the serving image converts PNG/JPEG/TFRecord inputs to the model's channels the same way)."""
    stored = images.shape[-1]
    if stored == channels:
        return images
    if channels == 1:
        return tf.image.rgb_to_grayscale(images[..., :3])
    return tf.image.grayscale_to_rgb(images) if stored == 1 else images[..., :3]
