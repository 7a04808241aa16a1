"""Memory a new model may still use: the container's cgroup limit (what the OOM killer enforces) and the host's
MemAvailable, whichever is smaller."""

from __future__ import annotations

import contextlib
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")
_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge number


def _read_int(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        text = path.read_text().strip()
        return None if text == "max" else int(text)
    return None


def _cgroup_available(root: Path) -> int | None:
    # cgroup v2, then v1. Page cache counts towards usage but is reclaimable: subtract inactive_file as the
    # kernel (and `docker stats`) do.
    for limit_file, usage_file, stat_file, inactive_key in (
        ("memory.max", "memory.current", "memory.stat", "inactive_file"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat", "total_inactive_file"),
    ):
        limit, usage = _read_int(root / limit_file), _read_int(root / usage_file)
        if limit is None or usage is None or limit >= _UNLIMITED:
            continue
        inactive = 0
        with contextlib.suppress(OSError, ValueError):
            for line in (root / stat_file).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == inactive_key:
                    inactive = int(value)
        return max(0, limit - max(0, usage - inactive))
    return None


def _meminfo_available(meminfo: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def available_bytes(cgroup_root: Path = CGROUP_ROOT, meminfo: Path = MEMINFO) -> int | None:
    """None when neither is readable (then no check is possible)."""
    known = [v for v in (_cgroup_available(cgroup_root), _meminfo_available(meminfo)) if v is not None]
    return min(known) if known else None
