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
