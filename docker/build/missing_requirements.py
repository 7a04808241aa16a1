"""Print the distributions of a requirements file that this Python does not have, one per line.

docker/train.Dockerfile installs only those (pinned): on the DLC, whose own versions of Pillow, matplotlib,
scikit-learn and tqdm its other packages were built and tested with, it installs nothing.
"""

import importlib.metadata
import re
import sys


def requirement_names(text: str) -> list[str]:
    """Bare distribution names; comments, blank lines and pip options (`-c ...`) are skipped."""
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0])
    return names


def missing(names: list[str]) -> list[str]:
    absent = []
    for name in names:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            absent.append(name)
    return absent


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        print("\n".join(missing(requirement_names(handle.read()))))
