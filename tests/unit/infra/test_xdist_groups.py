"""Which tests share a worker under `make test WORKERS=2` (tests/conftest.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import xdist_group

TESTS = Path(__file__).resolve().parents[2]


def test_a_directory_is_one_group_and_container_modules_are_their_own():
    assert xdist_group("tests/unit/serve/test_app.py::test_x") == "tests/unit/serve"
    assert xdist_group("tests/unit/serve/test_codecs.py::test_y[a]") == "tests/unit/serve"
    assert xdist_group("tests/container/test_mme.py::test_z") == "tests/container/test_mme.py"
    assert xdist_group("tests/container/test_serve_image.py::t") != xdist_group("tests/container/test_mme.py::t")


def test_every_module_driving_the_sdks_local_engine_shares_one_worker():
    # Its compose network name and endpoint port are fixed: two such modules at once collide.
    # `sdk_local`: the SDK driven directly; `"--local"`: through `launch ... --local`.
    users = [p for p in (TESTS / "container").glob("test_*.py") if {"sdk_local", '"--local"'} & _words(p)]
    assert len(users) >= 2
    groups = {xdist_group(f"tests/container/{p.name}::t") for p in users}
    assert groups == {"sdk-local-engine"}, users


def _words(path: Path) -> set[str]:
    text = path.read_text()
    return {word for word in ("sdk_local", '"--local"') if word in text}


def test_trainers_binding_localhost_ports_share_one_worker():
    assert xdist_group("tests/integration/train/test_script_mode_process.py::t") == xdist_group(
        "tests/integration/distributed/test_parameter_server.py::t"
    )
    assert xdist_group("tests/integration/serve/test_x.py::t") == "tests/integration/serve"


def test_two_workers_run_each_group_on_one_worker():
    """The real scheduler, in a subprocess: 2 workers, 2 groups of quick tests; every test of a group reports
    the same worker. With the groups ignored, xdist deals tests of one file to both workers from the start."""
    files = ["tests/unit/serve/test_tensors.py", "tests/unit/train/test_script_parts.py"]
    argv = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider", *files]
    done = subprocess.run(argv, cwd=TESTS.parent, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    ran = re.findall(r"^\[(gw\d)\] \[\s*\d+%\] PASSED (\S+?)::", done.stdout, flags=re.MULTILINE)
    workers = {path: {worker for worker, test_path in ran if test_path == path} for path in files}
    assert all(ran) and len(ran) > 20, done.stdout[-3000:]
    assert all(len(used) == 1 for used in workers.values()), workers
