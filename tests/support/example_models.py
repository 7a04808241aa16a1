"""A real SavedModel with classify and regress signatures over tf.train.Examples, exported the way Estimators did
(TF1 graph + SavedModelBuilder, signature_def_utils), for TF Serving's Classify / Regress APIs.

Feature `x`: 4 floats. Signatures: `serving_default` and `classification` (classify: `inputs` serialized
Examples -> `classes` [batch, 3] labels, `scores` [batch, 3] softmax), `regression` (regress: -> `outputs` [batch]),
`predict` (predict: `examples` -> `scores`). `call_examples` runs one of them in-process on Examples.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tests.support.models import _publish, _tf

LABELS = ("cat", "dog", "bird")
FEATURE = "x"
WIDTH = 4


def make_example(values: Sequence[float], **extra) -> bytes:
    """A serialized tf.train.Example with float feature `x` (and any extra float features)."""
    tf = _tf()
    features = {FEATURE: tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))}
    for name, more in extra.items():
        features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=list(more)))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def export_example_model(base_dir: str | os.PathLike, version: int = 1, seed: int = 0) -> Path:
    tf = _tf()
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(WIDTH, len(LABELS))).astype(np.float32)
    coefficients = rng.normal(size=(WIDTH,)).astype(np.float32)
    v1 = tf.compat.v1

    def save(target: Path) -> None:
        with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
            serialized = v1.placeholder(tf.string, [None], name="tf_example")
            parsed = tf.io.parse_example(serialized, {FEATURE: tf.io.FixedLenFeature([WIDTH], tf.float32)})
            x = parsed[FEATURE]
            scores = tf.nn.softmax(tf.matmul(x, tf.constant(weights)))
            classes = tf.tile(tf.constant([list(LABELS)]), [tf.shape(x)[0], 1])
            value = tf.reduce_sum(x * tf.constant(coefficients), axis=1)
            utils = v1.saved_model.signature_def_utils
            classify = utils.classification_signature_def(serialized, classes, scores)
            builder = v1.saved_model.Builder(str(target))
            builder.add_meta_graph_and_variables(
                session,
                [v1.saved_model.tag_constants.SERVING],
                signature_def_map={
                    "serving_default": classify,
                    "classification": classify,
                    "regression": utils.regression_signature_def(serialized, value),
                    "predict": utils.predict_signature_def({"examples": serialized}, {"scores": scores}),
                },
            )
            builder.save()

    return _publish(Path(base_dir), version, save)


def call_examples(version_dir: str | os.PathLike, examples: Sequence[bytes], signature: str) -> dict[str, np.ndarray]:
    """Run a signature of the exported model in-process on serialized Examples."""
    tf = _tf()
    function = tf.saved_model.load(str(version_dir)).signatures[signature]
    (name,) = function.structured_input_signature[1]
    return {key: tensor.numpy() for key, tensor in function(**{name: tf.constant(list(examples))}).items()}
