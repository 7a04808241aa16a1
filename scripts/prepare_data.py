"""Images -> TFRecord shards in the project schema, one directory per split, optional upload to S3.

Sources:
  cifar10  the CIFAR-10 python tarball (cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/):
           data_batch_1..4 -> train, data_batch_5 -> validation, test_batch -> eval (as seed 004's script).
  cinic10  a CINIC-10 tree train|valid|test/<class>/*.png -> train, validation, eval.
  folder   any image tree: <split>/<class>/* (split names as cinic10 plus validation/val/eval) or
           <class>/* (all train; --validation-fraction carves a validation split per class).

Output: <output>/<split>/<split>-00000-of-000NN.tfrecord (NN a multiple of --shard-multiple),
<output>/<split>/labels.txt (the splits of --labels-in) and <output>/labels.txt. The same inputs and --seed give
identical files.
Unreadable images are reported and skipped. Bad arguments or input: one line on stderr, exit 2.

    python -m scripts.prepare_data --source cifar10 --input cifar-10-python.tar.gz --output data \
        --shard-multiple 8 [--s3-uri s3://bucket/prefix]
"""

from __future__ import annotations

import argparse
import io
import pickle
import random
import sys
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from train_container.records import encode_example, shard_count, shard_name

SOURCES = ("cifar10", "cinic10", "folder")
SPLIT_ALIASES = {
    "train": "train",
    "valid": "validation",
    "validation": "validation",
    "val": "validation",
    "test": "eval",
    "eval": "eval",
}
CIFAR_SPLITS = {
    **{f"data_batch_{i}": "train" for i in range(1, 5)},
    "data_batch_5": "validation",
    "test_batch": "eval",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
# Formats TF's decode_image reads in the modes it handles; anything else is re-encoded to PNG.
PASSTHROUGH = {("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "L"), ("PNG", "P"), ("PNG", "LA"),
               ("JPEG", "RGB"), ("JPEG", "L")}  # fmt: skip


class InputError(Exception):
    """Bad arguments or unusable input: reported as one line, exit 2."""


class CorruptImage(Exception):
    pass


@dataclass(frozen=True)
class Encoded:
    data: bytes
    image_format: str
    height: int
    width: int


@dataclass(frozen=True)
class Sample:
    split: str
    label: int
    name: str
    load: Callable[[], Encoded]


@dataclass
class Report:
    written: Counter = field(default_factory=Counter)
    shards: dict[str, int] = field(default_factory=dict)
    corrupt: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- sources


def cifar10_samples(tarball: Path) -> tuple[list[str], list[Sample]]:
    """CIFAR-10's python batches are pickles; only open tarballs from the official source."""
    if not tarball.is_file():
        raise InputError(f"CIFAR-10 tarball {tarball} does not exist")
    try:
        with tarfile.open(tarball) as archive:
            return _read_cifar(archive, tarball)
    except (tarfile.TarError, OSError) as exc:
        raise InputError(f"{tarball} is not a readable tar archive: {exc}") from None


def _read_cifar(archive: tarfile.TarFile, tarball: Path) -> tuple[list[str], list[Sample]]:
    members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
    missing = sorted((set(CIFAR_SPLITS) | {"batches.meta"}) - set(members))
    if missing:
        raise InputError(f"{tarball} is not the CIFAR-10 python tarball: missing {', '.join(missing)}")
    labels = [name.decode() for name in _unpickle(archive, members["batches.meta"])[b"label_names"]]
    samples = []
    for member_name, split in CIFAR_SPLITS.items():
        batch = _unpickle(archive, members[member_name])
        try:
            rows = list(zip(batch[b"data"], batch[b"labels"], batch[b"filenames"], strict=True))
        except (KeyError, ValueError) as exc:
            raise InputError(f"{tarball}: {member_name} is not a CIFAR-10 batch ({exc})") from None
        for row, label, filename in rows:
            samples.append(Sample(split, int(label), filename.decode(), _cifar_loader(row)))
    return labels, samples


def _unpickle(archive: tarfile.TarFile, member: tarfile.TarInfo) -> dict:
    try:
        return pickle.load(archive.extractfile(member), encoding="bytes")
    except Exception as exc:
        raise InputError(f"cannot read {member.name} from the CIFAR-10 tarball: {exc}") from None


def _cifar_loader(row) -> Callable[[], Encoded]:
    def load() -> Encoded:
        import numpy as np

        pixels = np.asarray(row, dtype=np.uint8)
        if pixels.size != 3 * 32 * 32:
            raise CorruptImage(f"expected 3072 bytes, got {pixels.size}")
        return _png(pixels.reshape(3, 32, 32).transpose(1, 2, 0))

    return load


def folder_samples(
    root: Path, require_splits: bool, validation_fraction: float, seed: int
) -> tuple[list[str], list[Sample]]:
    if not root.is_dir():
        raise InputError(f"image folder {root} does not exist")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    split_dirs = [p for p in subdirs if p.name in SPLIT_ALIASES]
    if require_splits and not split_dirs:
        raise InputError(f"{root} has none of the split directories {', '.join(SPLIT_ALIASES)}")
    groups = {p: SPLIT_ALIASES[p.name] for p in split_dirs} if split_dirs else {root: "train"}
    classes = sorted({c.name for group in groups for c in group.iterdir() if c.is_dir()})
    if not classes:
        raise InputError(f"{root} has no class directories (<class>/<image files>)")
    index = {name: i for i, name in enumerate(classes)}
    samples = []
    for group, split in groups.items():
        for class_dir in sorted(c for c in group.iterdir() if c.is_dir()):
            files = sorted(p for p in class_dir.rglob("*") if _is_image_file(p))
            holdout = 0
            if not split_dirs and validation_fraction > 0:
                random.Random(f"{seed}/{class_dir.name}").shuffle(files)
                holdout = round(len(files) * validation_fraction)
            for position, path in enumerate(files):
                target = "validation" if position < holdout else split
                name = str(path.relative_to(root))
                samples.append(Sample(target, index[class_dir.name], name, _file_loader(path)))
    if not samples:
        raise InputError(f"{root} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return classes, samples


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _file_loader(path: Path) -> Callable[[], Encoded]:
    def load() -> Encoded:
        from PIL import Image

        try:
            data = path.read_bytes()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                if (image.format, image.mode) in PASSTHROUGH:
                    return Encoded(data, image.format.lower(), image.height, image.width)
                import numpy as np

                return _png(np.asarray(image.convert("RGB")))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise CorruptImage(str(exc) or type(exc).__name__) from None

    return load


def _png(pixels) -> Encoded:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return Encoded(buffer.getvalue(), "png", pixels.shape[0], pixels.shape[1])


# ---------------------------------------------------------------- writing


def plan_splits(samples: Iterable[Sample], seed: int) -> dict[str, list[Sample]]:
    """Samples per split in a seeded shuffled order (so each shard mixes all classes)."""
    by_split: dict[str, list[Sample]] = {}
    for sample in samples:
        by_split.setdefault(sample.split, []).append(sample)
    for split, items in by_split.items():
        items.sort(key=lambda s: s.name)
        random.Random(f"{seed}/{split}").shuffle(items)
    return dict(sorted(by_split.items()))


def write_split(
    split: str, samples: list[Sample], out_dir: Path, shards: int, report: Report, progress: bool
) -> None:
    import tensorflow as tf

    out_dir.mkdir(parents=True, exist_ok=True)
    writers = [tf.io.TFRecordWriter(str(out_dir / shard_name(split, i, shards))) for i in range(shards)]
    written = 0
    try:
        for sample in tqdm(samples, desc=split, unit="img", disable=not progress):
            try:
                encoded = sample.load()
            except CorruptImage as exc:
                report.corrupt.append(f"{sample.name}: {exc}")
                continue
            record = encode_example(
                encoded.data, sample.label, encoded.height, encoded.width, encoded.image_format, sample.name
            )
            # Round-robin keeps shard sizes within one record of each other.
            writers[written % shards].write(record)
            written += 1
    finally:
        for writer in writers:
            writer.close()
    report.written[split] = written
    report.shards[split] = shards


def prepare(
    labels: list[str],
    samples: list[Sample],
    output: Path,
    shard_multiple: int,
    records_per_shard: int,
    seed: int,
    progress: bool = False,
    labels_in: frozenset[str] | None = None,
) -> Report:
    """`labels_in`: the splits that get a copy of labels.txt (None: all). Batch Transform sends every object
    under its input prefix as a record, so a split that is transformed must hold nothing but shards."""
    report = Report()
    text = "".join(f"{label}\n" for label in labels)
    output.mkdir(parents=True, exist_ok=True)
    (output / "labels.txt").write_text(text)
    for split, items in plan_splits(samples, seed).items():
        shards = shard_count(len(items), shard_multiple, records_per_shard)
        write_split(split, items, output / split, shards, report, progress)
        if labels_in is None or split in labels_in:
            (output / split / "labels.txt").write_text(text)
    return report


# ---------------------------------------------------------------- S3


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise InputError(f"--s3-uri must look like s3://bucket/prefix, got {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise InputError(f"--s3-uri has no bucket: {uri!r}")
    return bucket, prefix.strip("/")


def upload(output: Path, uri: str, progress: bool = False, client=None) -> list[str]:
    """Upload every file under `output` keeping relative paths; returns the keys."""
    import boto3

    bucket, prefix = parse_s3_uri(uri)
    client = client or boto3.client("s3")
    files = sorted(p for p in output.rglob("*") if p.is_file())
    keys = []
    with tqdm(total=sum(p.stat().st_size for p in files), unit="B", unit_scale=True, desc="upload",
              disable=not progress) as bar:  # fmt: skip
        for path in files:
            key = "/".join(filter(None, [prefix, path.relative_to(output).as_posix()]))
            client.upload_file(str(path), bucket, key, Callback=bar.update)
            keys.append(key)
    return keys


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=SOURCES, required=True)
    parser.add_argument("--input", type=Path, required=True, help="tarball (cifar10) or directory")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--shard-multiple", type=int, default=8, help="shard count is a multiple of this")
    parser.add_argument("--records-per-shard", type=int, default=4096)
    parser.add_argument("--validation-fraction", type=float, default=0.0, help="folder without splits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--s3-uri", help="upload the output here, e.g. s3://bucket/data/cifar10")
    parser.add_argument(
        "--labels-in", action="append", choices=("train", "validation", "eval"),
        help="splits that get a labels.txt copy (repeatable; default all; leave out a split you batch-transform)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.shard_multiple < 1 or args.records_per_shard < 1:
        raise InputError("--shard-multiple and --records-per-shard must be >= 1")
    if not 0 <= args.validation_fraction < 1:
        raise InputError("--validation-fraction must be in [0, 1)")
    if args.s3_uri:
        parse_s3_uri(args.s3_uri)
    return args


def load_source(args: argparse.Namespace) -> tuple[list[str], list[Sample]]:
    if args.source == "cifar10":
        return cifar10_samples(args.input)
    return folder_samples(args.input, args.source == "cinic10", args.validation_fraction, args.seed)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        labels, samples = load_source(args)
        report = prepare(
            labels, samples, args.output, args.shard_multiple, args.records_per_shard, args.seed,
            progress=sys.stderr.isatty(), labels_in=frozenset(args.labels_in) if args.labels_in else None,
        )  # fmt: skip
    except InputError as exc:
        print(f"prepare_data: error: {_first_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"prepare_data: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for line in _summary(report):
        print(line)
    if report.corrupt:
        for entry in report.corrupt[:20]:
            print(f"prepare_data: skipped corrupt image {entry}", file=sys.stderr)
    if args.s3_uri:
        try:
            keys = upload(args.output, args.s3_uri, progress=sys.stderr.isatty())
        except Exception as exc:  # botocore raises many types; the user needs the one line
            print(f"prepare_data: error: upload to {args.s3_uri} failed: {_first_line(exc)}", file=sys.stderr)
            return 1
        print(f"uploaded {len(keys)} files to {args.s3_uri}")
    return 0


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].rstrip(":") if lines else type(exc).__name__


def _summary(report: Report) -> Iterator[str]:
    for split, count in sorted(report.written.items()):
        yield f"split={split} records={count} shards={report.shards[split]}"
    yield f"corrupt_skipped={len(report.corrupt)}"


if __name__ == "__main__":
    sys.exit(main())
