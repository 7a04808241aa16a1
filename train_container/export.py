"""SavedModel for TF Serving: `model/<version>/` with `serving_default` (uint8 `image` [N, H, W, C] -> `probabilities`).

Also `assets/labels.txt` (one class per line), `assets/input_schema.json` (the record features the trainer
decoded: the serving image's TFRecord decoder reads it as JSON) and, from `source_dir`, the optional `model/code/`
(inference.py, requirements.txt, lib/) that the serving container loads.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf
import tf_keras

from train_container.contract import TrainingEnv
from train_container.datasets import FOLDER, NUMPY, SCHEMA_ASSET, ImageSchema
from train_container.errors import TrainingError
from train_container.models import INPUT_NAME, OUTPUT_NAME

CODE_ITEMS = ("inference.py", "requirements.txt", "lib")


def export_model(
    model: tf_keras.Model, settings: TrainingEnv, io_device: str | None = None, schema: ImageSchema | None = None
) -> Path:
    hp = settings.hyperparameters
    target = settings.export_dir
    # TF Serving polls model/ for numeric version dirs: build under a non-numeric name and rename at the
    # end, so a half-written version is never loaded.
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    # The serving image converts PNG/JPEG/TFRecord inputs to these channels (1 for a grey model).
    spec = tf.TensorSpec([None, hp.image_height, hp.image_width, hp.image_channels], tf.uint8, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def serve(image):
        return {OUTPUT_NAME: model(image, training=False)}

    try:
        options = tf.saved_model.SaveOptions(experimental_io_device=io_device)  # see Runtime.io_device
        tf.saved_model.save(model, str(partial), signatures={"serving_default": serve}, options=options)
        assets = partial / "assets"
        assets.mkdir(exist_ok=True)
        (assets / "labels.txt").write_text("".join(f"{label}\n" for label in settings.labels))
        if schema is not None and schema.encoding not in (NUMPY, FOLDER):  # no records, no record schema
            (assets / SCHEMA_ASSET).write_text(schema.to_json() + "\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    except (OSError, tf.errors.OpError) as error:
        # TF's own message starts with the wrapped SaveV2 op; the user needs the path, the cause and the room left.
        reason = getattr(error, "strerror", None) or _op_error_cause(getattr(error, "message", None) or str(error))
        raise TrainingError(
            f"could not write the SavedModel to {target}: {reason} ({_free_bytes(target.parent)} bytes free)"
        ) from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if hp.source_dir is not None:
        copy_code(Path(hp.source_dir), settings.code_dir)
    return target


def copy_code(source: Path, destination: Path) -> list[str]:
    """Copy the serving hooks the DLC-style `model/code/` layout expects; other files stay out."""
    copied = []
    for name in CODE_ITEMS:
        item = source / name
        if item.is_dir():
            shutil.copytree(item, destination / name, dirs_exist_ok=True)
        elif item.is_file():
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, destination / name)
        else:
            continue
        copied.append(name)
    return copied


def check_writable(directory: Path) -> None:
    """Fail before training, not after it, when the model or checkpoint directory cannot take files."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as error:
        raise TrainingError(f"{directory} is not writable: {error.strerror or error}") from None


def _free_bytes(directory: Path) -> int | str:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return "unknown"


def _op_error_cause(message: str) -> str:
    """'{{function_node ...}} /path/tempstate123; No space left on device [Op:SaveV2]' -> 'No space left on device'."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    line = lines[0] if lines else "(no message)"
    if line.endswith(":") and len(lines) > 1:
        # 'Graph execution error:' heads a traceback of the graph's definition; the cause is its last text line.
        causes = [text for text in lines[1:] if not text.startswith(("File ", "[[", "Detected at node"))]
        line = causes[-1] if causes else line
    line = re.sub(r"\s*\[Op:\w+\]$", "", re.sub(r"\{\{.*?\}\}\s*", "", line))
    return line.rsplit("; ", 1)[-1]
