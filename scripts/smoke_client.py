"""Smoke client for docker-compose: checks a running serving container over HTTP. Standard library only, so it runs
inside the serving image (compose mounts this file) or anywhere else with a bare python3.

Reads a samples directory written by `python -m scripts.smoke prepare`:
  expected.json   {"files": {"<name>.png": <label>, ...}, "class_names": [...]}
  <name>.png      one image per request (application/x-image)
  batch.tfrecord  the same images as concatenated TFRecords (application/x-tfrecord, one JSON line per record)
  instances.json  the same images as TFS REST JSON {"instances": [...]} (application/json)
Checks: /ping is 200 (waits up to --ping-timeout); the three payload kinds give the same class for every image;
the share of images whose class equals its expected label is at least --min-accuracy. Any failure: one line per
problem on stderr and exit 1.

    python3 smoke_client.py --url http://serve:8080 --samples /samples [--min-accuracy 0.9]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def request(url: str, body: bytes | None = None, content_type: str = "", accept: str = "application/json"):
    headers = {"Accept": accept}
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def wait_for_ping(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, body = request(f"{url}/ping")
            if status == 200:
                return
            last = f"{status} {body[:120]}"
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            last = str(error)
        time.sleep(1)
    raise SystemExit(f"smoke: /ping not 200 within {timeout_s:.0f} s (last: {last})")


def argmax(scores: list[float]) -> int:
    return max(range(len(scores)), key=scores.__getitem__)


def classes_from_json(body: str) -> list[int]:
    return [argmax(row) for row in json.loads(body)["predictions"]]


def classes_from_jsonlines(body: str) -> list[int]:
    rows = [json.loads(line) for line in body.splitlines() if line.strip()]
    return [argmax(row["probabilities"] if isinstance(row, dict) else row) for row in rows]


def check(url: str, samples: Path, min_accuracy: float) -> list[str]:
    expected = json.loads((samples / "expected.json").read_text())
    names = sorted(expected["files"])
    problems = []

    png_classes = []
    for name in names:
        status, body = request(f"{url}/invocations", (samples / name).read_bytes(), "application/x-image")
        if status != 200:
            problems.append(f"PNG {name}: HTTP {status} {body[:200]}")
            png_classes.append(-1)
            continue
        png_classes.append(classes_from_json(body)[0])

    batch = (samples / "batch.tfrecord").read_bytes()
    status, body = request(f"{url}/invocations", batch, "application/x-tfrecord", "application/jsonlines")
    record_classes = classes_from_jsonlines(body) if status == 200 else []
    if status != 200:
        problems.append(f"TFRecord batch: HTTP {status} {body[:200]}")

    status, body = request(f"{url}/invocations", (samples / "instances.json").read_bytes(), "application/json")
    json_classes = classes_from_json(body) if status == 200 else []
    if status != 200:
        problems.append(f"JSON instances: HTTP {status} {body[:200]}")

    for kind, classes in (("TFRecord", record_classes), ("JSON", json_classes)):
        if classes and len(classes) != len(names):
            problems.append(f"{kind}: {len(names)} images sent, {len(classes)} predictions back")
        elif classes:
            problems += [
                f"{name}: PNG says class {a}, {kind} says {b}"
                for name, a, b in zip(names, png_classes, classes, strict=True)
                if a != b
            ]

    correct = [png == expected["files"][name] for name, png in zip(names, png_classes, strict=True)]
    accuracy = sum(correct) / len(names)
    wrong = [f"{name} (expected {expected['files'][name]}, got {png})"
             for name, png, ok in zip(names, png_classes, correct, strict=True) if not ok]  # fmt: skip
    print(f"smoke: {len(names)} images, accuracy {accuracy:.3f}; PNG, TFRecord and JSON agree: "
          f"{not any('says class' in p for p in problems)}")  # fmt: skip
    if accuracy < min_accuracy:
        problems.append(f"accuracy {accuracy:.3f} < {min_accuracy}: wrong: {', '.join(wrong)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--min-accuracy", type=float, default=0.9)
    parser.add_argument("--ping-timeout", type=float, default=240)
    args = parser.parse_args(argv)
    if not (args.samples / "expected.json").is_file():
        print(f"smoke: {args.samples}/expected.json missing: run `python -m scripts.smoke prepare`", file=sys.stderr)
        return 2
    wait_for_ping(args.url.rstrip("/"), args.ping_timeout)
    problems = check(args.url.rstrip("/"), args.samples, args.min_accuracy)
    for problem in problems:
        print(f"smoke: FAIL {problem}", file=sys.stderr)
    if not problems:
        print("smoke: OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
