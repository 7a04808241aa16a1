"""Hash tags, skip reasons and command builders of dev/images.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dev import image_specs
from dev.image_specs import ImageSpec

ROOT = Path(__file__).resolve().parents[3]


def test_digests_cover_directory_files_and_ignore_caches(tmp_path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("a")
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "Dockerfile").write_text("FROM x")
    digests = image_specs.input_digests(tmp_path, ["Dockerfile", "pkg"])
    assert sorted(digests) == ["Dockerfile", "pkg/a.py"]


def test_missing_input_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        image_specs.input_digests(tmp_path, ["nope"])


def test_tag_changes_with_files_base_and_content_args_but_not_pip_transport():
    files = {"Dockerfile": "1"}
    tag = image_specs.inputs_tag(files, "sha256:base", {"X": "1"})
    assert re.fullmatch(r"[0-9a-f]{12}", tag)
    assert image_specs.inputs_tag({"Dockerfile": "2"}, "sha256:base", {"X": "1"}) != tag
    assert image_specs.inputs_tag(files, "sha256:other", {"X": "1"}) != tag
    assert image_specs.inputs_tag(files, "sha256:base", {"X": "2"}) != tag
    transport = {"X": "1", "PIP_FIND_LINKS": "http://127.0.0.1:1/", "PIP_NO_INDEX": "1"}
    assert image_specs.inputs_tag(files, "sha256:base", transport) == tag


def test_change_reason_names_what_changed():
    old = image_specs.manifest({"a": "1", "b": "1"}, "base1", {})
    assert image_specs.change_reason(None, old) == "no previous build"
    assert image_specs.change_reason(old, old) == "image missing"
    new = image_specs.manifest({"a": "2", "b": "1", "c": "1"}, "base2", {"Y": "1"})
    assert image_specs.change_reason(old, new) == "changed a, c; base image changed; build args changed"
    many = image_specs.manifest({f"f{i}": "x" for i in range(5)}, "base1", {})
    assert image_specs.change_reason(old, many).startswith("changed a, b, f0 (+4 more)")


def test_docker_build_command_tags_alias_and_passes_base_and_args():
    command = image_specs.docker_build_command(
        image_specs.TRAINING_BASE, "abc", "byoc-local/debian-rootfs:r1", {"PIP_NO_INDEX": "1"}
    )
    assert command[:4] == ["docker", "build", "--network", "host"]
    assert command[command.index("-f") + 1] == "docker/local/training.Dockerfile"
    tags = [command[i + 1] for i, arg in enumerate(command) if arg == "-t"]
    assert tags == ["byoc-local/tensorflow-training:abc", "byoc-local/tensorflow-training:2.16.2-cpu"]
    build_args = [command[i + 1] for i, arg in enumerate(command) if arg == "--build-arg"]
    assert build_args == ["ROOTFS_IMAGE=byoc-local/debian-rootfs:r1", "PIP_NO_INDEX=1"]
    assert command[-1] == "."


def test_mmdebstrap_and_import_commands():
    assert image_specs.mmdebstrap_command(["python3", "curl"], "bookworm", "http://m/debian", "/o.tar") == [
        "mmdebstrap", "--variant=apt", "--include=python3,curl", "bookworm", "/o.tar", "http://m/debian",
    ]  # fmt: skip
    command = image_specs.docker_import_command("/o.tar", "repo:tag")
    assert command[:2] == ["docker", "import"] and command[-2:] == ["/o.tar", "repo:tag"]
    assert 'CMD ["/bin/bash"]' in command


def test_package_list_strips_comments_and_blanks():
    assert image_specs.read_package_list("# c\npython3  # why\n\ncurl\n") == ["python3", "curl"]


def test_env_file_lines():
    assert image_specs.env_file({"B": "2", "A": "1"}) == "A=1\nB=2\n"


def _copy_sources(dockerfile: str) -> set[str]:
    """Every path a Dockerfile COPYs from the build context (not --from= stages)."""
    sources = set()
    for line in (ROOT / dockerfile).read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources.update(part.rstrip("/") for part in line.split()[1:-1])
    return sources


@pytest.mark.parametrize("spec", [s for s in image_specs.ALL_SPECS if s.base], ids=lambda s: s.name)
def test_hash_inputs_cover_everything_the_dockerfile_copies(spec: ImageSpec):
    copied = _copy_sources(spec.recipe)
    assert copied, spec.recipe
    covered = set(spec.inputs)
    uncovered = {src for src in copied if not any(src == i or src.startswith(i + "/") for i in covered)}
    assert not uncovered, f"{spec.recipe} copies {uncovered} but they are not hashed into its tag"
    assert spec.recipe in covered


def test_every_copied_path_passes_the_dockerignore():
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]  # fmt: skip
    for spec in image_specs.ALL_SPECS:
        if spec.base:
            for source in _copy_sources(spec.recipe):
                assert any(source == a or source.startswith(a + "/") for a in allowed), source


def test_superseded_refs_are_older_hash_tags_of_the_same_repository_only():
    spec = image_specs.TRAINING_BASE
    listing = [
        "byoc-local/tensorflow-training:aaaaaaaaaaaa",
        "byoc-local/tensorflow-training:bbbbbbbbbbbb",
        "byoc-local/tensorflow-training:2.16.2-cpu",
        "byoc-local/tensorflow-training:my-experiment",
        "byoc/tensorflow-training:cccccccccccc",
        "byoc-local/tensorflow-inference:dddddddddddd",
    ]
    assert image_specs.superseded_refs(listing, spec, "bbbbbbbbbbbb") == ["byoc-local/tensorflow-training:aaaaaaaaaaaa"]


def test_superseded_refs_younger_than_the_grace_period_stay_for_other_checkouts():
    spec = image_specs.TRAINING_BASE
    old, recent, current = (f"byoc-local/tensorflow-training:{c * 12}" for c in "abc")
    ages = {old: image_specs.SUPERSEDED_GRACE_SECONDS + 1, recent: 60.0, current: 1.0}
    assert image_specs.superseded_refs([old, recent, current], spec, "c" * 12, ages) == [old]


def test_chain_lists_an_image_after_its_bases():
    assert [spec.name for spec in image_specs.chain("train")] == ["rootfs", "training-base", "train"]
    assert [spec.name for spec in image_specs.chain("serving-base")] == ["rootfs", "serving-base"]
    assert [spec.name for spec in image_specs.chain("rootfs")] == ["rootfs"]


def test_env_file_round_trips_and_a_missing_file_reads_empty(tmp_path):
    refs = {"BYOC_SERVE_IMAGE": "byoc/tensorflow-inference:abc", "BYOC_TRAIN_IMAGE": "byoc/tensorflow-training:d=e"}
    path = tmp_path / "images.env"
    path.write_text(image_specs.env_file(refs))
    assert image_specs.read_env_file(path) == refs
    assert image_specs.read_env_file(tmp_path / "absent.env") == {}
    path.write_text("BYOC_TRAIN_IMAGE=byoc/tensorflow-training:1\n# comment\nBYOC_SERVE_IMAGE='byoc/x:2'\n")
    assert image_specs.read_env_file(path) == {"BYOC_TRAIN_IMAGE": "byoc/tensorflow-training:1",
                                               "BYOC_SERVE_IMAGE": "byoc/x:2"}  # fmt: skip
