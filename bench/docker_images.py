"""Which product images to measure, and P8: the bytes our layers add on top of each base image.

The image refs come from the config (BYOC_*_IMAGE or build/images.env); without them, the newest local
`byoc/...` image is used and the row says so. A product's base is the local image whose id appears in the
product's history; every history entry above it is ours.
"""

from __future__ import annotations

import sys

from bench.child import run_child
from bench.config import BenchConfig
from bench.results import Row

MB = 1_000_000
REPOSITORIES = {"train": "byoc/tensorflow-training", "serve": "byoc/tensorflow-inference"}
BASE_PREFIX = "byoc-local/"


def resolve(config: BenchConfig, role: str, client) -> tuple[str | None, str]:
    """(image ref, how it was chosen)."""
    configured = {"train": config.train_image, "serve": config.serve_image}[role]
    if configured:
        return configured, "from BYOC_*_IMAGE / build/images.env"
    candidates = [img for img in client.images.list(name=REPOSITORIES[role]) if img.tags]
    if not candidates:
        return None, f"no {REPOSITORIES[role]} image: run `make images`"
    newest = max(candidates, key=lambda img: img.attrs["Created"])
    return newest.tags[0], "newest local image (BYOC_*_IMAGE unset, build/images.env missing)"


def added_layers(product, bases) -> tuple[object, list[dict]]:
    """(base image, our history entries newest first) for the first base found in the product's history."""
    history = product.history()
    ids = [entry["Id"] for entry in history]
    for base in bases:
        if base.id in ids and base.id != product.id:
            return base, history[: ids.index(base.id)]
    raise RuntimeError(f"none of the {BASE_PREFIX}* images is a base of {product.tags}")


def weight_row(role: str, ref: str, how: str, client) -> Row:
    product = client.images.get(ref)
    bases = [img for img in client.images.list() if any(tag.startswith(BASE_PREFIX) for tag in img.tags)]
    base, ours = added_layers(product, bases)
    added = sum(entry["Size"] for entry in ours)
    biggest = sorted(ours, key=lambda entry: entry["Size"], reverse=True)[:2]
    described = "; ".join(f"{entry['Size'] / MB:.0f} MB `{entry['CreatedBy'][-70:].strip()}`" for entry in biggest)
    return Row(
        id=f"P8 {role}", what="image size: ours vs its base", unit="MB",
        ours=product.attrs["Size"] / MB, reference=base.attrs["Size"] / MB,
        note=f"{ref} ({how}) adds {added / MB:.0f} MB in {len(ours)} layers over {' = '.join(sorted(base.tags))}; "
        f"largest: {described}",
        extra={"added_mb": added / MB, "layers": float(len(ours))},
    )  # fmt: skip


def measure(config: BenchConfig) -> list[Row]:
    import docker

    client = docker.from_env()
    rows = []
    for role in ("train", "serve"):
        ref, how = resolve(config, role, client)
        if ref is None:
            rows.append(Row(id=f"P8 {role}", what="image size: ours vs its base", unit="MB", ours=None, reference=None,
                            note=how))  # fmt: skip
            continue
        rows.append(weight_row(role, ref, how, client))
    return rows


if __name__ == "__main__":
    sys.exit(run_child(measure))
