"""Which models exist: the DLC's layouts in /opt/ml/model, the default model, multi-model urls, the shared
registry's pages, and the memory a load may use."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_container import memory
from serve_container.contract import load_settings
from serve_container.errors import BadRequest, CatalogError, ModelNotFound
from serve_container.model_catalog import (
    ModelEntry,
    Registry,
    StaticCatalog,
    discover,
    find_versions,
    model_from_url,
)


def _version(path: Path, *versions: int) -> Path:
    for version in versions:
        (path / str(version)).mkdir(parents=True)
        (path / str(version) / "saved_model.pb").write_bytes(b"x" * 10)
    return path


def _catalog(root: Path, **env) -> StaticCatalog:
    return StaticCatalog.from_settings(load_settings({"BYOC_MODEL_DIR": str(root), **env}))


def test_find_versions_needs_a_saved_model(tmp_path):
    _version(tmp_path, 1, 10, 2)
    (tmp_path / "3").mkdir()  # no saved_model.pb
    (tmp_path / "code").mkdir()
    assert find_versions(tmp_path) == [1, 2, 10]
    assert find_versions(tmp_path / "absent") == []


def test_one_model_at_the_root_takes_the_default_name(tmp_path):
    _version(tmp_path, 1, 2)
    catalog = _catalog(tmp_path)
    assert [(e.name, e.versions) for e in catalog.entries] == [("model", (1, 2))]
    assert catalog.default == "model"
    assert _catalog(tmp_path, SAGEMAKER_TFS_DEFAULT_MODEL_NAME="resnet").default == "resnet"


def test_several_models_and_export_servo_are_named_by_directory(tmp_path):
    _version(tmp_path / "alpha", 1)
    _version(tmp_path / "beta", 3, 4)
    _version(tmp_path / "export" / "Servo", 7)
    (tmp_path / "code").mkdir()
    catalog = _catalog(tmp_path)
    assert [(e.name, e.versions) for e in catalog.entries] == [("alpha", (1,)), ("beta", (3, 4)), ("Servo", (7,))]
    assert catalog.default == "alpha"  # no SAGEMAKER_TFS_DEFAULT_MODEL_NAME: the first by path, as the DLC does
    assert _catalog(tmp_path, SAGEMAKER_TFS_DEFAULT_MODEL_NAME="beta").default == "beta"
    assert catalog.get("Servo").base_path == (tmp_path / "export" / "Servo").resolve()
    with pytest.raises(ModelNotFound, match="'gamma' is not served here.*alpha"):
        catalog.get("gamma")


def test_a_default_name_naming_no_model_fails_listing_them(tmp_path):
    _version(tmp_path / "alpha", 1)
    with pytest.raises(CatalogError, match=r"SAGEMAKER_TFS_DEFAULT_MODEL_NAME='nope'.*\['alpha'\]"):
        _catalog(tmp_path, SAGEMAKER_TFS_DEFAULT_MODEL_NAME="nope")


def test_two_models_with_one_name_and_no_model_fail_clearly(tmp_path):
    _version(tmp_path / "a" / "Servo", 1)
    _version(tmp_path / "b" / "Servo", 1)
    with pytest.raises(CatalogError, match="two models are named 'Servo'"):
        discover(tmp_path, "model")
    with pytest.raises(CatalogError, match="no SavedModel found"):
        _catalog(tmp_path / "empty")


def test_model_from_url_checks_name_path_and_saved_model(tmp_path):
    _version(tmp_path / "m" / "model", 1)
    entry = model_from_url("resnet", str(tmp_path / "m" / "model"))
    assert (entry.name, entry.versions, entry.url) == ("resnet", (1,), str(tmp_path / "m" / "model"))
    with pytest.raises(BadRequest, match="not a valid model name"):
        model_from_url("../x", str(tmp_path))
    with pytest.raises(BadRequest, match="absolute path"):
        model_from_url("m", "relative/path")
    with pytest.raises(ModelNotFound, match="is not a directory"):
        model_from_url("m", str(tmp_path / "absent"))
    (tmp_path / "nomodel" / "1").mkdir(parents=True)
    with pytest.raises(BadRequest, match="no SavedModel found"):
        model_from_url("m", str(tmp_path / "nomodel"))


def test_registry_pages_are_stable_and_shared_through_the_file(tmp_path):
    writer, reader = Registry(tmp_path), Registry(tmp_path)
    writer.reset()
    assert reader.models() == {}
    writer.save({n: ModelEntry(n, tmp_path / n, (1,), f"/opt/ml/models/{n}/model", 1) for n in "edcba"})
    assert list(reader.models()) == ["a", "b", "c", "d", "e"]  # another process's view, through the file
    seen, token = [], None
    while True:
        page, token = reader.page(token, 2)
        seen.append([e.name for e in page])
        if token is None:
            break
    assert seen == [["a", "b"], ["c", "d"], ["e"]]
    assert "config" in (tmp_path / "model_config.pbtxt").read_text()
    with pytest.raises(BadRequest, match="next_page_token"):
        reader.page("%%%", 2)
    with pytest.raises(ModelNotFound, match="'z' is not loaded"):
        reader.get("z")


def test_available_memory_is_the_smaller_of_cgroup_and_host(tmp_path):
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(str(1000 * 2**20))
    (cgroup / "memory.current").write_text(str(700 * 2**20))
    (cgroup / "memory.stat").write_text(f"anon 1\ninactive_file {100 * 2**20}\n")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 9000000 kB\nMemAvailable: 8000000 kB\n")
    assert memory.available_bytes(cgroup, meminfo) == 400 * 2**20  # 1000 - (700 - 100 reclaimable cache)
    (cgroup / "memory.max").write_text("max")
    assert memory.available_bytes(cgroup, meminfo) == 8000000 * 1024
    assert memory.available_bytes(tmp_path / "none", tmp_path / "none") is None
