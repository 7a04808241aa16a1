"""dev/images.py settings: validated once, one clear message per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev.images import BuildError, Settings


def test_defaults():
    settings = Settings.from_env({}, root=Path("/r"))
    assert settings.wheelhouse_port == 38471
    assert settings.debian_mirror == "http://deb.debian.org/debian"
    assert settings.debian_suite == "bookworm"
    assert settings.build_dir == Path("/r/build")


@pytest.mark.parametrize("port", ["abc", "80", "70000", ""])
def test_bad_port_is_rejected_naming_the_variable(port):
    with pytest.raises(BuildError, match="BYOC_WHEELHOUSE_PORT"):
        Settings.from_env({"BYOC_WHEELHOUSE_PORT": port})


def test_bad_mirror_is_rejected_naming_the_variable():
    with pytest.raises(BuildError, match="BYOC_DEBIAN_MIRROR"):
        Settings.from_env({"BYOC_DEBIAN_MIRROR": "deb.debian.org"})
