"""The loopback wheelhouse that feeds pip inside the local image builds."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from dev import wheelhouse
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[3]


def test_served_directory_is_reachable_then_closed(tmp_path):
    (tmp_path / "pkg-1.0-py3-none-any.whl").write_bytes(b"wheel")
    port = free_port()
    with wheelhouse.served(tmp_path, port) as url:
        assert url == f"http://127.0.0.1:{port}/"
        listing = urllib.request.urlopen(url, timeout=5).read().decode()
        assert "pkg-1.0-py3-none-any.whl" in listing
        assert urllib.request.urlopen(url + "pkg-1.0-py3-none-any.whl", timeout=5).read() == b"wheel"
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def test_busy_port_is_a_clear_error(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(OSError, match="BYOC_WHEELHOUSE_PORT"), wheelhouse.served(tmp_path, port):
            pass


def test_download_commands_target_the_bases_python_and_get_horovod_as_source():
    binaries, sources = wheelhouse.download_commands("/py", "/wh", "c.txt")
    assert binaries[:4] == ["/py", "-m", "pip", "download"]
    assert binaries[binaries.index("--python-version") + 1] == "3.11"
    assert "--only-binary=:all:" in binaries
    assert "manylinux2014_x86_64" in binaries and "manylinux_2_17_x86_64" in binaries
    for requirements in wheelhouse.REQUIREMENT_FILES:
        assert requirements in binaries
    assert binaries[binaries.index("-c") + 1] == "c.txt"
    assert sources[-1] == "horovod" and "--no-binary=:all:" in sources and "--no-deps" in sources


def test_stamp_follows_pins(tmp_path):
    for name in wheelhouse.STAMP_INPUTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    before = wheelhouse.stamp(tmp_path)
    assert wheelhouse.stamp(tmp_path) == before
    (tmp_path / "requirements/constraints.txt").write_text("y\n")
    assert wheelhouse.stamp(tmp_path) != before


def test_pip_args_make_pip_use_only_the_wheelhouse():
    url = "http://127.0.0.1:1/"
    assert wheelhouse.pip_args(url) == {"PIP_FIND_LINKS": url, "PIP_NO_INDEX": "1"}


def test_stamp_inputs_exist_in_the_repo():
    assert wheelhouse.missing_files(ROOT, wheelhouse.STAMP_INPUTS) == []
