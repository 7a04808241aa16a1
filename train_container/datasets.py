"""Which files of a channel are TFRecords, and which tf.train.Example features hold the image and label.

No TensorFlow here: the reader (data.py), the export (the schema asset) and the serving decoder's tests share
it. Examples arrive as plain `{name: (kind, values)}` dicts (kind: bytes / int64 / float) so any protobuf
module can feed `infer_schema`; `example_features` parses with TF's own generated proto when given none.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from train_container.errors import DataError
from train_container.records import FramingError, iter_tfrecords

GZIP = "GZIP"
RECORD_PATTERNS = ("*.tfrecord", "*.tfrecords", "*.tfr", "<name>-NNNNN-of-NNNNN", "each with optional .gz")
# TF-slim / ImageNet build scripts write `train-00000-of-01024` with no suffix.
_RECORD_NAME = re.compile(r"(\.tfrecords?|\.tfr|-\d+-of-\d+)(\.gz)?$", re.IGNORECASE)
_GZIP_MAGIC = b"\x1f\x8b"
SAMPLE_RECORDS = 16
LISTED_NAMES = 5
SCHEMA_ASSET = "input_schema.json"
SCHEMA_VERSION = 1

ENCODED, RAW, FLOATS, INTS = "encoded", "raw", "float", "int"
LAYOUTS = ("HWC", "CHW")
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)
LABEL_NAMES = (
    "image/class/label", "label", "labels", "class", "y", "target", "category", "image/label", "class_id",
)
HEIGHT_NAMES = ("image/height", "height", "rows")
WIDTH_NAMES = ("image/width", "width", "cols")
DEPTH_NAMES = ("image/channels", "image/depth", "depth", "channels")
SHAPE_NAMES = ("image/shape", "shape")
# Bytes features that are never pixels even when their length happens to fit a small image.
_META_SUFFIXES = ("format", "filename", "text", "colorspace", "sha256", "source_id", "name", "synset")
_CHANNEL_CHOICES = (3, 1, 4)  # order tried for a square raw image: RGB, grey, RGBA
MIN_PIXELS = 64  # fewer values than 8x8 is metadata, not an image


# ---------------------------------------------------------------- finding records


@dataclass(frozen=True)
class RecordFiles:
    paths: tuple[Path, ...]
    compressions: tuple[str, ...]  # "" or GZIP, per path (what TFRecordDataset's compression_type takes)

    @property
    def compression(self) -> str:
        """The one compression of all files, or '' when they differ (the reader then goes per file)."""
        kinds = set(self.compressions)
        return kinds.pop() if len(kinds) == 1 else ""


def is_record_name(name: str) -> bool:
    return bool(_RECORD_NAME.search(name))


def compression_for(name: str, compression_type: str | None) -> str:
    """inputdataconfig's CompressionType (Gzip) applies to every object; otherwise the `.gz` suffix decides."""
    if (compression_type or "").lower() == "gzip" or name.lower().endswith(".gz"):
        return GZIP
    return ""


def find_records(
    channel_name: str, directory: Path, compression_type: str | None = None, also_looked_for: Sequence[str] = ()
) -> RecordFiles:
    """Every TFRecord file under the channel (File and FastFile mode), sorted; DataError naming what is there
    (and the patterns looked for, `also_looked_for` included: the trainer also takes arrays and folders)."""
    if not directory.is_dir():
        raise DataError(f"channel '{channel_name}' directory {directory} does not exist")
    files = sorted(
        p for p in directory.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts[-1:])
    )
    paths = tuple(p for p in files if is_record_name(p.name))
    if not paths:
        held = ", ".join(str(p.relative_to(directory)) for p in files[:LISTED_NAMES])
        more = f" and {len(files) - LISTED_NAMES} more" if len(files) > LISTED_NAMES else ""
        what = f"it holds {held}{more}" if files else "it is empty"
        kind = "TFRecord files, arrays or image folders" if also_looked_for else "TFRecord files"
        raise DataError(
            f"channel '{channel_name}' has no {kind} under {directory} "
            f"(looked for {', '.join((*RECORD_PATTERNS, *also_looked_for))}); {what}"
        )
    return RecordFiles(paths, tuple(compression_for(p.name, compression_type) for p in paths))


def open_stream(stream, compression: str | None = None):
    """A record stream, gunzipped when asked or when it starts with the gzip magic (Pipe mode can't seek)."""
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    if compression == GZIP or head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream, mode="rb")
    return stream


def first_records(files: RecordFiles, count: int = SAMPLE_RECORDS) -> list[tuple[str, bytes]]:
    """(file name, record) for up to `count` records from the first files; DataError naming a broken file."""
    samples: list[tuple[str, bytes]] = []
    empty = []
    for path, compression in zip(files.paths, files.compressions, strict=True):
        try:
            with open(path, "rb") as raw:
                stream = open_stream(raw, compression)
                for record in iter_tfrecords(stream):
                    samples.append((path.name, record))
                    if len(samples) >= count:
                        return samples
        except FramingError as exc:
            raise DataError(f"{path}: not a readable TFRecord file ({exc})") from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise DataError(f"{path}: cannot read ({exc})") from None
        if not samples:
            empty.append(path.name)
    if not samples:
        raise DataError(f"TFRecord files hold no records: {', '.join(empty[:LISTED_NAMES])} are empty")
    return samples


# ---------------------------------------------------------------- examples as plain dicts

Features = Mapping[str, tuple[str, Sequence[Any]]]


def example_features(record: bytes, example_pb2=None) -> dict[str, tuple[str, list[Any]]]:
    """A serialized tf.train.Example as {name: (kind, values)}; ValueError when it is not one."""
    if example_pb2 is None:
        from tensorflow.core.example import example_pb2  # the trainer has TF; the serving side passes its own
    try:
        example = example_pb2.Example.FromString(record)
    except Exception as exc:  # protobuf's DecodeError lives in a different module per implementation
        raise ValueError("not a serialized tf.train.Example") from exc
    features = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            features[name] = ("bytes", list(feature.bytes_list.value))
        elif kind == "int64_list":
            features[name] = ("int64", list(feature.int64_list.value))
        elif kind == "float_list":
            features[name] = ("float", list(feature.float_list.value))
    return features


def parse_samples(records: Iterable[tuple[str, bytes]], example_pb2=None) -> list[tuple[str, Features]]:
    parsed = []
    for index, (source, record) in enumerate(records):
        try:
            parsed.append((source, example_features(record, example_pb2)))
        except ValueError as exc:
            raise DataError(f"{source}: record {index} is {exc}") from None
    return parsed


# ---------------------------------------------------------------- the schema


@dataclass(frozen=True)
class SchemaHints:
    """What the user said (None = infer): hyperparameters image/label_feature_key, raw_shape, image_layout.

    height/width/depth are the stored pixels' shape, never the model's input size (images are resized to that)."""

    image_key: str | None = None
    label_key: str | None = None
    height: int | None = None
    width: int | None = None
    layout: str | None = None
    depth: int | None = None

    @classmethod
    def given(cls, image_key=None, label_key=None, layout=None, raw_shape: Sequence[int] | None = None) -> SchemaHints:
        """From the hyperparameters / reader arguments; raw_shape is (H, W) or (H, W, C)."""
        height, width, depth = (*raw_shape, None)[:3] if raw_shape else (None, None, None)
        return cls(image_key, label_key, height, width, layout, depth)

    @property
    def shape_text(self) -> str | None:
        """raw_shape as the user wrote it ('28x28x1'), None when not given."""
        return "x".join(str(v) for v in (self.height, self.width, self.depth) if v) if self.height else None


@dataclass(frozen=True)
class ImageSchema:
    image_key: str
    label_key: str
    encoding: str  # ENCODED (PNG/JPEG/GIF/BMP bytes), RAW (uint8 bytes), FLOATS or INTS (value lists)
    shape: tuple[int, int, int] | None = None  # (H, W, C) of RAW/FLOATS/INTS pixels
    layout: str = "HWC"  # order of RAW/FLOATS/INTS values
    scale: float = 1.0  # FLOATS in 0..1 are multiplied by 255
    formats: tuple[str, ...] = ()  # ENCODED formats seen in the sample

    @property
    def length(self) -> int:
        assert self.shape is not None
        return self.shape[0] * self.shape[1] * self.shape[2]

    def describe(self) -> str:
        if self.encoding == ENCODED:
            image = f"'{self.image_key}' ({'/'.join(self.formats)} bytes)"
        else:
            h, w, c = self.shape
            kind = {RAW: "raw uint8 bytes", FLOATS: "float list", INTS: "int list"}[self.encoding]
            scaled = ", x255" if self.scale != 1.0 else ""
            image = f"'{self.image_key}' ({kind}, {h}x{w}x{c} {self.layout}{scaled})"
        return f"image {image}, label '{self.label_key}'"

    def to_json(self) -> str:
        return json.dumps({"version": SCHEMA_VERSION, **asdict(self)}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ImageSchema:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
            raise ValueError(f"not a version {SCHEMA_VERSION} input schema")
        shape = data.get("shape")
        return cls(
            image_key=str(data["image_key"]),
            label_key=str(data["label_key"]),
            encoding=str(data["encoding"]),
            shape=tuple(int(v) for v in shape) if shape else None,
            layout=str(data.get("layout", "HWC")),
            scale=float(data.get("scale", 1.0)),
            formats=tuple(data.get("formats", ())),
        )


def image_format(value: bytes) -> str | None:
    for magic, name in _MAGIC:
        # 'BM' alone is too likely at the start of raw pixels: a BMP also states its own file size.
        if value.startswith(magic) and (name != "BMP" or value[2:6] == len(value).to_bytes(4, "little")):
            return name
    return None


def infer_schema(samples: Sequence[tuple[str, Features]], hints: SchemaHints = SchemaHints()) -> ImageSchema:
    """Decide image and label features from the first records; DataError (one line) when it can't."""
    if not samples:
        raise DataError("no records to infer the image schema from")
    source, first = samples[0]
    if hints.layout is not None and hints.layout.upper() not in LAYOUTS:
        raise DataError(f"image_layout must be one of {', '.join(LAYOUTS)}, got {hints.layout!r}")
    image_key = hints.image_key or _find_image_key(samples, hints)
    _require(samples, image_key, "image_feature_key")
    label_key = hints.label_key or _find_label_key(first, image_key, source)
    _require(samples, label_key, "label_feature_key")
    for src, features in samples:
        kind, values = features[label_key]
        if kind != "int64" or len(values) != 1:
            raise DataError(
                f"{src}: label feature '{label_key}' must hold one int64, has {len(values)} {kind} value(s)"
            )
    kind = first[image_key][0]
    if kind == "bytes":
        values = [features[image_key][1] for _, features in samples]
        if any(len(v) != 1 for v in values):
            raise DataError(f"{source}: image feature '{image_key}' must hold exactly one bytes value")
        formats = [image_format(v[0]) for v in values]
        if all(formats):
            raw_hints = [f"image_layout={hints.layout}"] if hints.layout is not None else []
            if hints.height is not None:
                raw_hints.append(f"raw_shape={hints.shape_text}")
            if raw_hints:
                raise DataError(
                    f"{', '.join(raw_hints)} applies to raw pixels, but feature '{image_key}' holds {formats[0]} images"
                )
            return ImageSchema(image_key, label_key, ENCODED, formats=tuple(sorted(set(formats))))
        if any(formats):
            at = formats.index(None)
            raise DataError(
                f"feature '{image_key}' mixes encodings: {next(f for f in formats if f)} images and raw bytes "
                f"({samples[at][0]}, record {at})"
            )
        lengths = [len(v[0]) for v in values]
        encoding = RAW
    elif kind in ("float", "int64"):
        lengths = [len(features[image_key][1]) for _, features in samples]
        encoding = FLOATS if kind == "float" else INTS
    else:
        raise DataError(f"feature '{image_key}' holds {kind} values, not an image")
    if len(set(lengths)) != 1:
        other = next(i for i, n in enumerate(lengths) if n != lengths[0])
        raise DataError(
            f"feature '{image_key}' has {lengths[0]} values in {source} record 0 but {lengths[other]} in "
            f"{samples[other][0]} record {other}: raw images must all have one size"
        )
    shape, layout = _solve_shape(image_key, lengths[0], first, hints)
    scale = 1.0
    if encoding == FLOATS:
        peak = max(max(features[image_key][1], default=0.0) for _, features in samples)
        scale = 255.0 if peak <= 1.0 else 1.0
    return ImageSchema(image_key, label_key, encoding, shape=shape, layout=layout, scale=scale)


def _require(samples, key: str, hyperparameter: str) -> None:
    for source, features in samples:
        if key not in features:
            raise DataError(
                f"{source}: feature '{key}' ({hyperparameter}) is not in the records; they have "
                f"{', '.join(sorted(features))}"
            )


def _is_meta(name: str) -> bool:
    return name.lower().endswith(_META_SUFFIXES)


def _find_image_key(samples, hints: SchemaHints) -> str:
    source, first = samples[0]
    encoded, mixed, raw = [], [], []
    for name, (kind, values) in sorted(first.items()):
        if kind == "bytes" and len(values) == 1:
            column = [features.get(name, ("", [b""]))[1] for _, features in samples]
            formats = [image_format(v[0]) if len(v) == 1 else None for v in column]
            if all(formats):
                encoded.append(name)
            elif any(formats):
                mixed.append(name)
            elif not _is_meta(name) and len(values[0]) >= MIN_PIXELS:
                raw.append(name)
        elif kind in ("float", "int64") and len(values) >= MIN_PIXELS:
            raw.append(name)
    if len(encoded) == 1:
        return encoded[0]
    if len(encoded) > 1:
        raise DataError(
            f"{source}: two bytes features hold images ({', '.join(encoded)}); set image_feature_key"
        )
    if mixed:
        return mixed[0]  # infer_schema then names the mix
    fitting = [n for n in raw if _fits(len(_values(first[n])), first, hints)]
    if len(fitting) == 1:
        return fitting[0]
    if len(fitting) > 1:
        sizes = ", ".join(f"{n} ({len(_values(first[n]))} values)" for n in fitting)
        raise DataError(f"{source}: two features could be the raw image: {sizes}; set image_feature_key")
    if raw:
        return raw[0]  # infer_schema then says which shapes the length does not fit
    raise DataError(
        f"{source}: no feature looks like an image (PNG/JPEG/GIF/BMP bytes, raw HxWxC bytes or a number list "
        f"of at least {MIN_PIXELS}); features: {', '.join(sorted(first))}; set image_feature_key"
    )


def _values(feature) -> Sequence[Any]:
    kind, values = feature
    return values[0] if kind == "bytes" else values


def _fits(length: int, first: Features, hints: SchemaHints) -> bool:
    try:
        _solve_shape("", length, first, hints)
    except DataError:
        return False
    return True


def _find_label_key(first: Features, image_key: str, source: str) -> str:
    scalars = {n for n, (kind, values) in first.items() if kind == "int64" and len(values) == 1}
    for name in LABEL_NAMES:
        if name in scalars:
            return name
    shape_names = set(HEIGHT_NAMES + WIDTH_NAMES + DEPTH_NAMES)
    others = sorted(scalars - shape_names - {image_key})
    if len(others) == 1:
        return others[0]
    raise DataError(
        f"{source}: no int64 label feature (looked for {', '.join(LABEL_NAMES)}"
        f"{'; candidates ' + ', '.join(others) if others else ''}); set label_feature_key"
    )


def _int_feature(first: Features, names: Sequence[str]) -> int | None:
    for name in names:
        kind, values = first.get(name, ("", ()))
        if kind == "int64" and len(values) == 1:
            return int(values[0])
    return None


def _solve_shape(key: str, length: int, first: Features, hints: SchemaHints) -> tuple[tuple[int, int, int], str]:
    """(H, W, C) and the value layout for a raw image of `length` values."""
    layout = (hints.layout or "HWC").upper()
    if hints.height is not None or hints.width is not None:
        height = hints.height or hints.width
        width = hints.width or hints.height
        channels, rest = divmod(length, height * width)
        if rest or channels not in ((hints.depth,) if hints.depth else _CHANNEL_CHOICES):
            depth = hints.depth or "(1, 3 or 4)"
            raise DataError(f"feature '{key}' has {length} values, which is not {height}x{width}x{depth} (raw_shape)")
        return (height, width, channels), layout
    stored = next(
        (first[n][1] for n in SHAPE_NAMES if n in first and first[n][0] == "int64" and len(first[n][1]) == 3), None
    )
    if stored is not None:
        a, b, c = (int(v) for v in stored)
        if a * b * c != length:
            raise DataError(f"feature '{key}' has {length} values but the record's shape feature says {a}x{b}x{c}")
        detected = "CHW" if a in _CHANNEL_CHOICES and c not in _CHANNEL_CHOICES else "HWC"
        if hints.layout is not None and hints.layout.upper() != detected:
            raise DataError(f"image_layout={hints.layout} contradicts the record's shape feature {a}x{b}x{c}")
        return ((b, c, a) if detected == "CHW" else (a, b, c)), detected
    height, width = _int_feature(first, HEIGHT_NAMES), _int_feature(first, WIDTH_NAMES)
    if height and width:
        depth = _int_feature(first, DEPTH_NAMES) or length // (height * width)
        if height * width * depth != length or depth not in _CHANNEL_CHOICES:
            raise DataError(
                f"feature '{key}' has {length} values but the record's height/width/depth features say "
                f"{height}x{width}x{depth}"
            )
        return (height, width, depth), layout
    for channels in _CHANNEL_CHOICES:
        side = math.isqrt(length // channels)
        if side * side * channels == length and side >= 8:
            return (side, side, channels), layout
    raise DataError(
        f"feature '{key}' has {length} values, which fits no square HxWx(1, 3 or 4) image; "
        "set raw_shape (HxW or HxWxC)"
    )


def check_label(value: int, num_classes: int, where: str) -> None:
    if not 0 <= value < num_classes:
        raise DataError(f"{where}: label {value} is outside 0..{num_classes - 1} (num_classes={num_classes})")


# ---------------------------------------------------------------- numpy channels

NUMPY = "numpy"
# seed 001 uploads train_* and eval_* pairs to one prefix (the `training` channel): the eval pair, in this order of
# names, is the validation data when no validation channel is given.
HELD_OUT_PREFIXES = ("eval", "validation", "val", "valid", "test")
_NPZ_KEYS = (("x", "y"), ("images", "labels"), ("x_train", "y_train"), ("data", "labels"))


@dataclass(frozen=True)
class ArrayFiles:
    """A channel's image and label arrays: two `.npy` files, or two keys of one `.npz` (then key != None)."""

    images: Path
    labels: Path
    image_key: str | None = None
    label_key: str | None = None
    held_out: str | None = None  # prefix of another pair that looks like a validation split (`eval_*`, ...)


def _array_pairs(directory: Path) -> dict[str, Path]:
    return {
        p.name[: -len("_data.npy")]: p
        for p in sorted(directory.glob("*_data.npy"))
        if (directory / p.name.replace("_data.npy", "_labels.npy")).is_file()
    }


def find_arrays(channel_name: str, directory: Path, prefix: str | None = None) -> ArrayFiles | None:
    """`<prefix>_data.npy` + `<prefix>_labels.npy` (seed 001's MNIST; the channel's own prefix, else `train`,
    else the first pair; `prefix` picks one), or an `.npz` holding x/y, images/labels, x_train/y_train."""
    if not directory.is_dir():
        return None
    pairs = _array_pairs(directory)
    if prefix is not None:
        return ArrayFiles(pairs[prefix], directory / f"{prefix}_labels.npy") if prefix in pairs else None
    for chosen in (channel_name, "train", "training", *pairs):
        if chosen in pairs:
            held_out = next((name for name in HELD_OUT_PREFIXES if name in pairs and name != chosen), None)
            return ArrayFiles(pairs[chosen], directory / f"{chosen}_labels.npy", held_out=held_out)
    import numpy as np

    for path in sorted(directory.glob("*.npz")):
        with np.load(path) as archive:
            for image_key, label_key in _NPZ_KEYS:
                if image_key in archive.files and label_key in archive.files:
                    return ArrayFiles(path, path, image_key, label_key)
    return None


def array_schema(images, source: str, hints: SchemaHints = SchemaHints()) -> ImageSchema:
    """Shape and scale of an (N, H, W), (N, H, W, C) or flattened (N, H*W*C) image array."""
    if images.ndim < 2 or len(images) == 0:
        raise DataError(f"{source}: image array of shape {images.shape} holds no images")
    if images.dtype.kind not in "uif":
        raise DataError(f"{source}: image array dtype {images.dtype} is not a number type")
    layout = (hints.layout or "HWC").upper()
    if images.ndim == 2:
        try:
            shape, layout = _solve_shape(source, images.shape[1], {}, hints)
        except DataError:
            fix = f"do not fit raw_shape {hints.shape_text}" if hints.height else (
                "fit no square HxWx(1, 3 or 4) image; set raw_shape (HxW or HxWxC)"
            )
            raise DataError(f"{source}: rows of {images.shape[1]} values {fix}") from None
    elif images.ndim == 3:
        shape = (images.shape[1], images.shape[2], 1)
    elif images.ndim == 4 and images.shape[3] in _CHANNEL_CHOICES and layout == "HWC":
        shape = tuple(int(v) for v in images.shape[1:])
    elif images.ndim == 4 and images.shape[1] in _CHANNEL_CHOICES:
        shape, layout = (images.shape[2], images.shape[3], images.shape[1]), "CHW"
    else:
        raise DataError(f"{source}: image array of shape {images.shape} is not (N, H, W[, C]) images")
    if images.ndim > 2 and hints.height and (hints.height, hints.width, hints.depth or shape[2]) != tuple(shape):
        raise DataError(f"{source}: images of shape {images.shape[1:]} contradict raw_shape {hints.shape_text}")
    sample = images[: min(len(images), 256)]
    scale = 255.0 if images.dtype.kind == "f" and float(sample.max()) <= 1.0 else 1.0
    return ImageSchema(source, source, NUMPY, shape=tuple(int(v) for v in shape), layout=layout, scale=scale)


ARRAY_PATTERNS = ("<prefix>_data.npy + <prefix>_labels.npy", "*.npz with x/y or images/labels")


# ---------------------------------------------------------------- image-folder channels

FOLDER = "folder"
FOLDER_PATTERN = "<class>/*.png|jpg|jpeg folders"
FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class ImageFolder:
    """A channel of `<class>/<image>` files: classes in sorted order, each file with its class index."""

    classes: tuple[str, ...]
    files: tuple[Path, ...]
    labels: tuple[int, ...]


def reject_record_hints(hints: SchemaHints, holds: str, layout: bool) -> None:
    """Feature keys (and, for folders, a raw layout) name parts of TFRecords: set for other data, they contradict."""
    given = [
        f"{name}={value}"
        for name, value in (
            ("image_feature_key", hints.image_key),
            ("label_feature_key", hints.label_key),
            ("image_layout", hints.layout if layout else None),
            ("raw_shape", hints.shape_text if layout else None),
        )
        if value is not None
    ]
    if given:
        raise DataError(f"{', '.join(given)} applies to TFRecords, but {holds}")


def find_image_folder(channel_name: str, directory: Path, classes: Sequence[str] | None = None) -> ImageFolder | None:
    """The channel's class folders (None when it has none); `classes` (the train channel's) fixes the indices,
    and a folder outside them is a DataError naming it."""
    if not directory.is_dir():
        return None
    folders = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = {
        folder.name: sorted(
            p for p in folder.rglob("*")
            if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES and not p.name.startswith(".")
        )
        for folder in folders
    }  # fmt: skip
    found = {name: files for name, files in found.items() if files}
    if not found:
        return None
    names = tuple(classes) if classes is not None else tuple(sorted(found))
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DataError(
            f"channel '{channel_name}' has class folders {', '.join(unknown)} that the train channel's classes "
            f"({', '.join(names)}) do not have"
        )
    if classes is None and len(names) < 2:
        raise DataError(f"channel '{channel_name}' has one class folder ({names[0]}); need 2+ classes")
    index = {name: i for i, name in enumerate(names)}
    pairs = [(path, index[name]) for name in sorted(found) for path in found[name]]
    return ImageFolder(names, tuple(p for p, _ in pairs), tuple(label for _, label in pairs))
