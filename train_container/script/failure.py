"""The user's exception, read back from what the program printed: type, message and the line that raised.

SageMaker shows the first line of output/failure as FailureReason, so that line names the exception and where
it happened; the full traceback follows. Under mpirun every line carries a `[1,<rank>]<stderr>:` tag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# mpirun tags every chunk it relays, so a tag may also appear mid-line where a write was split.
_TAG = re.compile(r"\[\d+,(?P<rank>\d+)\]<(?P<stream>stdout|stderr)>:")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')
TRACEBACK_HEADER = "Traceback (most recent call last):"
# Frames of our own machinery or the interpreter's, never the user's failing line.
_NOT_USER = ("<frozen ", "/runpy.py", "/train_container/", "/lib/python3")  # the last: stdlib and packages


@dataclass(frozen=True)
class UserException:
    headline: str  # "ValueError: bad value (train.py, line 12: raise ValueError(...))"
    traceback: str
    rank: str | None = None


def _pieces(line: str) -> list[tuple[str | None, str | None, str]]:
    """(rank, stream, text) of each tagged piece of an output line; untagged text has rank and stream None."""
    tags = list(_TAG.finditer(line))
    if not tags:
        return [(None, None, line)]
    pieces = [(None, None, line[: tags[0].start()])] if tags[0].start() else []
    ends = [tag.start() for tag in tags[1:]] + [len(line)]
    for tag, end in zip(tags, ends, strict=True):
        pieces.append((tag["rank"], tag["stream"], line[tag.end() : end]))
    return pieces


def untag(lines: Sequence[str], stderr_only: bool = False) -> dict[str | None, list[str]]:
    """Lines per mpirun rank (None: untagged lines), put back together.

    mpirun relays each chunk a rank writes, tagging its lines; a chunk that ends mid-line is followed on the same
    output line by the next chunk, from whichever rank wrote next. So only a line's last piece ends a line; an
    earlier piece is the start of its rank's line, whose rest arrives later under its own tag (CI saw rank 1's
    "ValueError" followed by rank 0's "Traceback ...", and ": learning rate ..." lines later). mpirun also relays
    a rank's stdout and stderr separately, so they interleave in arrival order: tracebacks (stderr) are read from
    the stderr lines alone (`stderr_only`), or a late `print` could land inside one."""
    by_rank: dict[str | None, list[str]] = {}
    unfinished: dict[tuple[str | None, str | None], str] = {}

    def finish(rank: str | None, stream: str | None, text: str) -> None:
        if not (stderr_only and stream == "stdout"):
            by_rank.setdefault(rank, []).append(text)

    for line in lines:
        pieces = _pieces(line)
        for rank, stream, text in pieces[:-1]:
            unfinished[rank, stream] = unfinished.get((rank, stream), "") + text
        rank, stream, text = pieces[-1]
        finish(rank, stream, unfinished.pop((rank, stream), "") + text)
    for (rank, stream), text in unfinished.items():  # a rank's last line, never finished
        finish(rank, stream, text)
    return by_rank


def last_exception(lines: Sequence[str]) -> tuple[str, str, str] | None:
    """(exception line, failing location, traceback text) of the last traceback printed, if any."""
    starts = [i for i, line in enumerate(lines) if line.strip() == TRACEBACK_HEADER]
    if not starts:
        return None
    block = list(lines[starts[-1] :])
    frames: list[tuple[str, str, str]] = []  # (file, line, code)
    end = 0
    for index in range(1, len(block)):
        line = block[index]
        frame = _FRAME.match(line)
        if frame:
            following = block[index + 1] if index + 1 < len(block) else ""
            code = "" if _FRAME.match(following) or not following.startswith(" ") else following.strip()
            frames.append((frame["file"], frame["line"], code))
        elif line.strip() and not line.startswith((" ", "\t")):
            end = index + 1  # the first unindented line after the frames: `Type: message`
            break
    if end == 0:  # cut off before the exception line (e.g. mpirun killed the rank mid-print): not usable
        return None
    # The deepest frame of the user's own code: not the interpreter's, not a library's, not ours.
    user = [frame for frame in frames if not any(marker in frame[0] for marker in _NOT_USER)]
    chosen = (user or frames or [("", "", "")])[-1]
    location = ""
    if chosen[0]:
        location = f"{chosen[0].rsplit('/', 1)[-1]}, line {chosen[1]}" + (f": {chosen[2]}" if chosen[2] else "")
    return block[end - 1].strip(), location, "\n".join(block[:end])


def find_user_exception(lines: Sequence[str], rank: str | None = None) -> UserException | None:
    by_rank = untag(lines, stderr_only=True)
    candidates = [rank] if rank is not None else [None, *sorted(k for k in by_rank if k is not None)]
    if rank is not None and rank not in by_rank:
        candidates = sorted(k for k in by_rank if k is not None)
    for candidate in candidates:
        found = last_exception(by_rank.get(candidate, []))
        if found and found[0]:
            exception, location, text = found
            headline = f"{exception} ({location})" if location else exception
            return UserException(headline, text, candidate)
    return None
