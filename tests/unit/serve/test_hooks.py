"""Per-model inference.py scripts import their own helpers, when the script is imported and when its hooks import
at request time: same module names in two models (and in the shared code dir) never serve one model's code for
another."""

from __future__ import annotations

import sys

import pytest

from serve_container.errors import HookError
from serve_container.handlers import Context, HookSet, load_hooks

SCRIPT = """
import helper
from pkg import tag

def handler(data, context):
    return f"{helper.NAME}/{tag.NAME}", "text/plain"
"""
LAZY_SCRIPT = """
import helper

def handler(data, context):
    import lazy  # first imported here, at request time
    from pkg.tag import NAME
    import helper as again
    return f"{helper.NAME}/{lazy.NAME}/{NAME}/{again is helper}", "text/plain"
"""


def _code(root, model: str, in_lib: bool = False, script: str = SCRIPT):
    code = root / model / "code"
    where = code / "lib" if in_lib else code
    (where / "pkg").mkdir(parents=True)
    (where / "helper.py").write_text(f"NAME = 'helper-of-{model}'\n")
    (where / "pkg" / "__init__.py").write_text("")
    (where / "pkg" / "tag.py").write_text(f"NAME = 'tag-of-{model}'\n")
    (where / "lazy.py").write_text(f"NAME = 'lazy-of-{model}'\n")
    (code / "inference.py").write_text(script)
    return code


def _answer(hooks) -> str:
    return hooks.handler(None, None)[0]


@pytest.fixture
def clean_modules():
    before = set(sys.modules)
    path = list(sys.path)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]
    sys.path[:] = path


def test_each_model_gets_its_own_helpers_not_the_shared_ones(tmp_path, clean_modules):
    shared_dir = _code(tmp_path, "shared")
    shared = load_hooks(shared_dir)  # the shared script: on sys.path for the worker's life, as the DLC does
    hook_set = HookSet(shared, shared_dir)
    a = hook_set.for_model(_code(tmp_path, "a"), 1)
    b = hook_set.for_model(_code(tmp_path, "b", in_lib=True), 1)
    assert _answer(a) == "helper-of-a/tag-of-a"
    assert _answer(b) == "helper-of-b/tag-of-b"
    assert _answer(shared) == "helper-of-shared/tag-of-shared"
    assert sys.modules["helper"].NAME == "helper-of-shared"  # what the shared code imported is back in place
    assert not any(str(tmp_path / m) in p for m in ("a", "b") for p in sys.path)


def test_a_reload_under_the_same_name_imports_the_new_helpers(tmp_path, clean_modules):
    hook_set = HookSet(load_hooks(tmp_path / "none"), None)
    code = _code(tmp_path, "m")
    assert _answer(hook_set.for_model(code, 1)) == "helper-of-m/tag-of-m"
    (code / "helper.py").write_text("NAME = 'helper-v2'\n")
    assert _answer(hook_set.for_model(code, 2)) == "helper-v2/tag-of-m"
    assert _answer(hook_set.for_model(code, 1)) == "helper-of-m/tag-of-m"  # loaded once per generation


def test_a_broken_model_script_fails_that_model_only(tmp_path, clean_modules):
    hook_set = HookSet(load_hooks(tmp_path / "none"), None)
    broken = _code(tmp_path, "broken", script="import helper\nraise RuntimeError('boom')\n")
    with pytest.raises(HookError, match="failed to import: RuntimeError: boom"):
        hook_set.for_model(broken, 1)
    assert "helper" not in sys.modules
    assert _answer(hook_set.for_model(_code(tmp_path, "fine"), 1)) == "helper-of-fine/tag-of-fine"


def test_imports_inside_a_models_hooks_at_request_time_get_its_own_modules(tmp_path, clean_modules):
    # The DLC leaves a model's code/lib on the worker's sys.path, so a hook may import from it while serving;
    # here that import must find this model's module even when the shared code dir has one of the same name.
    shared_dir = _code(tmp_path, "shared")
    hook_set = HookSet(load_hooks(shared_dir), shared_dir)
    a = hook_set.for_model(_code(tmp_path, "a", script=LAZY_SCRIPT), 1)
    b = hook_set.for_model(_code(tmp_path, "b", in_lib=True, script=LAZY_SCRIPT), 1)
    for _ in range(2):  # the first call imports lazy, the second finds the same module again
        assert _answer(a) == "helper-of-a/lazy-of-a/tag-of-a/True"
        assert _answer(b) == "helper-of-b/lazy-of-b/tag-of-b/True"
    assert sys.modules["helper"].NAME == "helper-of-shared" and "lazy" not in sys.modules
    assert not any(str(tmp_path / m) in p for m in ("a", "b") for p in sys.path)


def test_context_keeps_the_dlcs_fields_in_the_dlcs_order():
    # User code (and its tests) builds Context positionally, as the DLC's tfs_utils.parse_request does.
    assert Context._fields == (
        "model_name", "model_version", "method", "rest_uri", "grpc_port", "channel",
        "custom_attributes", "request_content_type", "accept_header", "content_length",
    )  # fmt: skip
    context = Context("m", "2", "predict", "http://tfs/v1/models/m:predict", 9000, None, None, "a/b", "c/d", 7)
    assert (context.rest_uri, context.accept_header, context.content_length) == (context[3], "c/d", 7)
