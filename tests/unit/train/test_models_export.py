"""Models take uint8 `image` and return `probabilities`; the export is what TF Serving will load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from train_container import contract
from train_container.export import export_model
from train_container.models import build_model


def settings_for(sm_root, **hyperparameters):
    values = {"image_size": 32, **hyperparameters}
    (sm_root / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps({k: json.dumps(v) for k, v in values.items()})
    )
    return contract.load(sm_root, environ={})


@pytest.mark.parametrize("model", ["cnn", "mobilenet_v2"])
def test_models_take_raw_uint8_pixels(sm_root, model):
    settings = settings_for(sm_root, model=model)
    built = build_model(settings.hyperparameters, settings.num_classes)
    assert built.input.dtype == tf.uint8 and built.input.shape.as_list() == [None, 32, 32, 3]
    assert built.input.name == "image"
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    probabilities = built(pixels, training=False).numpy()
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_mobilenet_base_trains_unless_pretrained_and_frozen(sm_root):
    settings = settings_for(sm_root, model="mobilenet_v2")
    built = build_model(settings.hyperparameters, settings.num_classes)
    base = next(layer for layer in built.layers if layer.name.startswith("mobilenet"))
    assert base.trainable  # random weights must learn; freeze_base only applies to imagenet weights


def test_export_has_the_serving_contract(sm_root):
    source = sm_root / "code"
    (source / "lib").mkdir(parents=True)
    (source / "inference.py").write_text("def handler(data, context):\n    return data\n")
    (source / "requirements.txt").write_text("pillow\n")
    (source / "lib" / "helper.py").write_text("X = 1\n")
    (source / "train.py").write_text("# training code stays out of the model\n")
    settings = settings_for(sm_root, model_version="7", source_dir=str(source))
    model = build_model(settings.hyperparameters, settings.num_classes)
    (sm_root / "model" / "7").mkdir(parents=True)
    (sm_root / "model" / "7" / "stale.txt").write_text("from an older run")

    path = export_model(model, settings)

    assert path == sm_root / "model" / "7"
    assert sorted(p.name for p in (sm_root / "model").iterdir()) == ["7", "code"]
    assert not (path / "stale.txt").exists()
    assert (path / "assets" / "labels.txt").read_text() == "cat\ndog\nbird\n"
    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert list(signature.structured_input_signature[1]) == ["image"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 32, 32, 3]
    assert list(signature.structured_outputs) == ["probabilities"]
    assert signature.structured_outputs["probabilities"].dtype == tf.float32
    pixels = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    served = signature(image=tf.constant(pixels))["probabilities"].numpy()
    np.testing.assert_allclose(served, model(pixels, training=False).numpy(), rtol=1e-5, atol=1e-6)
    code = sm_root / "model" / "code"
    assert sorted(p.relative_to(code).as_posix() for p in code.rglob("*")) == [
        "inference.py", "lib", "lib/helper.py", "requirements.txt",
    ]  # fmt: skip


def test_export_without_source_dir_writes_no_code(sm_root):
    settings = settings_for(sm_root)
    export_model(build_model(settings.hyperparameters, settings.num_classes), settings)
    assert sorted(p.name for p in (sm_root / "model").iterdir()) == ["1"]


def test_export_writes_the_record_schema_the_serving_decoder_reads(sm_root):
    from serve_container.decoders.tfrecord import model_schema
    from train_container.datasets import ImageSchema

    settings = settings_for(sm_root)
    schema = ImageSchema("image", "label", "raw", (32, 32, 3), "CHW")
    path = export_model(build_model(settings.hyperparameters, settings.num_classes), settings, schema=schema)
    assert ImageSchema.from_json((path / "assets" / "input_schema.json").read_text()) == schema
    served = model_schema(sm_root / "model", None)  # the newest version, as TF Serving picks it
    assert (served.image_key, served.encoding, served.shape, served.layout) == ("image", "raw", (32, 32, 3), "CHW")


def test_grey_data_exports_a_one_channel_model_that_the_serving_decoders_feed(sm_root, tmp_path):
    """Issue 12 item 4: the model's input channels follow grey data; serving converts PNGs and records to them."""
    import dataclasses
    import io

    from PIL import Image

    from serve_container import decoders
    from serve_container.signature import Signature, TensorSpec
    from train_container.datasets import ImageSchema
    from train_container.hyperparameters import model_channels

    assert model_channels("cnn", "none", 1) == 1 and model_channels("mobilenet_v2", "none", 1) == 1
    assert model_channels("mobilenet_v2", "imagenet", 1) == 3  # ImageNet weights take RGB
    assert model_channels("cnn", "none", 4) == 3 and model_channels("cnn", "none", None) == 3  # encoded: RGB
    settings = settings_for(sm_root, image_size=28)
    settings = dataclasses.replace(settings, hyperparameters=dataclasses.replace(
        settings.hyperparameters, image_channels=1))  # fmt: skip
    model = build_model(settings.hyperparameters, settings.num_classes)
    assert model.input.shape.as_list() == [None, 28, 28, 1]
    schema = ImageSchema("image", "label", "raw", (28, 28, 1), "HWC")
    path = export_model(model, settings, schema=schema)
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert spec.shape.as_list() == [None, 28, 28, 1]
    served = Signature("serving_default", (TensorSpec("image", np.dtype(np.uint8), tuple(spec.shape.as_list())),), ())
    options = decoders.DecodeOptions(None, 10**7).for_model(sm_root / "model", None)

    grey = np.random.default_rng(2).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    shard = tmp_path / "batch.tfrecords"
    with tf.io.TFRecordWriter(str(shard)) as writer:
        for image in grey:
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[0])),
            })).SerializeToString())  # fmt: skip
    batch = decoders.decode("application/x-tfrecord", shard.read_bytes(), served, options)["image"]
    assert batch.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(batch[..., 0], grey)
    predicted = signature(image=tf.constant(batch))["probabilities"].numpy()
    np.testing.assert_allclose(predicted, model(grey[..., None], training=False).numpy(), rtol=1e-5, atol=1e-6)

    def png(pixels, mode):
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode).save(buffer, format="PNG")
        return buffer.getvalue()

    same = decoders.decode("image/png", png(grey[0], "L"), served, options)["image"]
    np.testing.assert_array_equal(same[0, ..., 0], grey[0])
    colour = np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    converted = decoders.decode("image/png", png(colour, "RGB"), served, options)["image"]
    expected = np.asarray(Image.fromarray(colour, "RGB").convert("L").resize((28, 28), Image.Resampling.BILINEAR))
    assert converted.shape == (1, 28, 28, 1)
    np.testing.assert_array_equal(converted[0, ..., 0], expected)
