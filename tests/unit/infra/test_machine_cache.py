"""The machine cache's keys: what a cached Horovod wheel is reused for, and what makes it a different one."""

from __future__ import annotations

import pytest

from dev import machine_cache

CONSTRAINTS = "# pins\ntensorflow==2.16.2\nnumpy==1.26.4\nhorovod==0.28.1  # built from source\n"


def test_pinned_lines_pick_the_named_pins_in_order():
    assert machine_cache.pinned_lines(CONSTRAINTS, ("horovod", "tensorflow")) == [
        "horovod==0.28.1",
        "tensorflow==2.16.2",
    ]


def test_a_missing_pin_is_named():
    with pytest.raises(ValueError, match="horovod"):
        machine_cache.pinned_lines("tensorflow==2.16.2\n", ("tensorflow", "horovod"))


def test_horovod_key_follows_tf_horovod_and_python_but_not_other_pins():
    key = machine_cache.horovod_key(CONSTRAINTS, "cp311")
    assert key == machine_cache.horovod_key(CONSTRAINTS.replace("numpy==1.26.4", "numpy==2.0.0"), "cp311")
    assert key != machine_cache.horovod_key(CONSTRAINTS.replace("2.16.2", "2.16.1"), "cp311")
    assert key != machine_cache.horovod_key(CONSTRAINTS.replace("0.28.1", "0.28.0"), "cp311")
    assert key != machine_cache.horovod_key(CONSTRAINTS, "cp310")


def test_cache_root_defaults_and_must_be_absolute():
    assert str(machine_cache.cache_root({})) == machine_cache.DEFAULT_ROOT
    assert str(machine_cache.cache_root({"BYOC_CACHE_DIR": "/tmp/x"})) == "/tmp/x"
    with pytest.raises(ValueError, match="BYOC_CACHE_DIR"):
        machine_cache.cache_root({"BYOC_CACHE_DIR": "relative/dir"})


def test_wheel_dir_is_keyed_under_the_cache_root(tmp_path):
    directory = machine_cache.horovod_wheel_dir({"BYOC_CACHE_DIR": str(tmp_path)})
    assert directory.parent == tmp_path / "wheels"
    assert directory.name.startswith("horovod-")
    assert machine_cache.cached_wheel(directory) is None
    directory.mkdir(parents=True)
    (directory / "horovod-0.28.1-cp311-cp311-linux_x86_64.whl").write_bytes(b"wheel")
    assert machine_cache.cached_wheel(directory).name == "horovod-0.28.1-cp311-cp311-linux_x86_64.whl"
