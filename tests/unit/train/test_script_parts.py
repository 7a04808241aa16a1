"""Script mode's small parts: reading the user's exception back, pip's failure, the program command, TF_CONFIG."""

from __future__ import annotations

import tarfile

import pytest

from tests.support.sm_tree import make_sm_tree
from train_container.distributed.tf_config import toolkit_multiworker_tf_config, toolkit_parameter_server_tf_config
from train_container.errors import ConfigError
from train_container.script import code, program
from train_container.script import job as script_job
from train_container.script.code import describe_pip_failure
from train_container.script.failure import find_user_exception, untag

TRACEBACK = """epoch 1
Traceback (most recent call last):
  File "/opt/ml/code/train.py", line 30, in <module>
    main()
  File "/opt/ml/code/train.py", line 21, in main
    model.fit(x, y)
  File "/usr/lib/python3/dist-packages/tf_keras/src/engine/training.py", line 1807, in fit
    raise ValueError("Shapes (None, 10) and (None, 1) are incompatible")
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
ValueError: Shapes (None, 10) and (None, 1) are incompatible""".splitlines()


def test_user_exception_names_type_message_and_the_users_own_line():
    found = find_user_exception(TRACEBACK)
    assert found is not None
    assert found.headline == (
        "ValueError: Shapes (None, 10) and (None, 1) are incompatible (train.py, line 21: model.fit(x, y))"
    )
    assert found.traceback.startswith("Traceback") and found.traceback.endswith("are incompatible")


def test_chained_exceptions_report_the_last_one():
    lines = [*TRACEBACK, "", "During handling of the above exception, another exception occurred:", "",
             "Traceback (most recent call last):", '  File "/opt/ml/code/train.py", line 40, in <module>',
             "    cleanup()", "RuntimeError: cleanup failed"]  # fmt: skip
    assert find_user_exception(lines).headline == "RuntimeError: cleanup failed (train.py, line 40: cleanup())"


def test_mpirun_tagged_output_is_read_per_rank():
    lines = ["[1,0]<stdout>:step 1", *(f"[1,1]<stderr>:{line}" for line in TRACEBACK), "[1,0]<stderr>:hi"]
    found = find_user_exception(lines)
    assert found.rank == "1" and found.headline.startswith("ValueError: Shapes")
    assert find_user_exception(lines, rank="1").rank == "1"


def test_a_stdout_line_relayed_inside_a_ranks_traceback_is_not_its_exception():
    """mpirun relays stdout and stderr separately: under load a rank's earlier `print("starting")` arrived between
    its traceback's frames and its exception line (seen in CI: the headline read "failed on rank 0: starting")."""
    frames, exception = TRACEBACK[1:-1], TRACEBACK[-1]
    lines = [*(f"[1,0]<stderr>:{line}" for line in frames), "[1,0]<stdout>:starting",
             f"[1,0]<stderr>:{exception}"]  # fmt: skip
    found = find_user_exception(lines)
    assert found.rank == "0" and found.headline.startswith("ValueError: Shapes (None, 10)"), found


def test_mpirun_tags_inside_a_line_are_removed():
    lines = ["[1,1]<stderr>:Traceback (most recent call last):",
             '[1,1]<stderr>:  File "/opt/ml/code/t.py", line 3, in <module>',
             "[1,1]<stderr>:    [1,1]<stderr>:json.dumps(x)[1,1]<stderr>:",
             '[1,1]<stderr>:  File "/usr/lib/python3.11/json/encoder.py", line 180, in default',
             "[1,1]<stderr>:    raise TypeError(...)",
             "[1,1]<stderr>:TypeError[1,1]<stderr>:: [1,1]<stderr>:Object of type float32 is not JSON serializable"]
    assert find_user_exception(lines).headline == (
        "TypeError: Object of type float32 is not JSON serializable (t.py, line 3: json.dumps(x))")


def test_a_ranks_unfinished_line_is_joined_with_its_rest_not_with_the_next_ranks_piece():
    """Seen in CI: "raises.py failed on rank 1: ValueErrorTraceback (most recent call last):". mpirun relayed rank
    1's chunk "ValueError" (no newline yet) and rank 0's "Traceback ..." right after it on one output line; rank 1's
    ": learning rate ..." came lines later."""
    frames = ['  File "/opt/ml/code/raises.py", line 8, in <module>', "    raise ValueError(message)"]
    message = "learning rate must be positive, got -1.0"
    lines = ["[1,1]<stderr>:Traceback (most recent call last):", *(f"[1,1]<stderr>:{f}" for f in frames),
             "[1,1]<stderr>:ValueError[1,0]<stderr>:Traceback (most recent call last):",
             f"[1,0]<stderr>:{frames[0]}", f"[1,1]<stderr>:: {message}", f"[1,0]<stderr>:{frames[1]}",
             f"[1,0]<stderr>:ValueError[1,0]<stderr>:: {message}"]  # fmt: skip
    by_rank = untag(lines)
    for rank in ("0", "1"):
        assert by_rank[rank] == ["Traceback (most recent call last):", *frames, f"ValueError: {message}"], rank
        found = find_user_exception(lines, rank=rank)
        assert found.headline == f"ValueError: {message} (raises.py, line 8: raise ValueError(message))", found


def test_an_unfinished_last_line_is_kept():
    assert untag(["[1,0]<stderr>:Killed[1,1]<stdout>:step 3"]) == {"0": ["Killed"], "1": ["step 3"]}


def test_a_rank_whose_traceback_was_cut_off_gives_way_to_a_complete_one():
    cut = ["[1,0]<stderr>:Traceback (most recent call last):",
           '[1,0]<stderr>:  File "/opt/ml/code/t.py", line 3, in <module>']
    whole = [f"[1,1]<stderr>:{line}" for line in TRACEBACK]
    found = find_user_exception([*cut, *whole])
    assert found.rank == "1" and found.headline.startswith("ValueError: Shapes")
    assert find_user_exception(cut) is None


def test_no_traceback_no_exception():
    assert find_user_exception(["Killed", "exit 137"]) is None
    assert find_user_exception([]) is None


@pytest.mark.parametrize(("output", "expected"), [
    ("Looking in links: wheels\nERROR: Could not find a version that satisfies the requirement nopkg==1.0 "
     "(from versions: none)\nERROR: No matching distribution found for nopkg==1.0\n",
     "requirements.txt: could not install nopkg==1.0: No matching distribution found for nopkg==1.0"),
    ("ERROR: Invalid requirement: 'not a requirement!': Expected end\n",
     "requirements.txt: could not install not a requirement!: Invalid requirement: 'not a requirement!': Expected end"),
    ("Processing ./x.whl\nERROR: something else broke\n",
     "requirements.txt: pip install failed with exit code 1: something else broke"),
])  # fmt: skip
def test_pip_failures_name_the_requirement(output, expected):
    assert describe_pip_failure(output, 1) == expected


def test_program_commands_follow_the_toolkit(tmp_path):
    assert program.program_kind(tmp_path, "train.py") == program.PYTHON_PROGRAM
    assert program.program_kind(tmp_path, "run.sh") == program.COMMAND
    assert program.program_command(program.PYTHON_PROGRAM, "train.py", ["--a", "1"], python="/py") == [
        "/py", "train.py", "--a", "1"]  # fmt: skip
    assert program.program_command(program.COMMAND, "run.sh", ["--a", "x y"]) == ["/bin/sh", "-c", "./run.sh --a 'x y'"]
    (tmp_path / "setup.py").write_text("")
    assert program.program_kind(tmp_path, "train.py") == program.PYTHON_PACKAGE
    assert program.program_command(program.PYTHON_PACKAGE, "train.py", [], python="/py") == ["/py", "-m", "train"]


def test_local_tarball_is_unpacked_into_the_code_dir(tmp_path):
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "train.py").write_text("print('hi')\n")
    (source / "pkg" / "util.py").write_text("X = 1\n")
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in ("train.py", "pkg/util.py"):
            tar.add(source / path, arcname=path)
    root = make_sm_tree(tmp_path / "ml", {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(archive)})
    path = code.fetch(script_job.load(root, {}))
    assert path == root / "code" and (path / "pkg" / "util.py").read_text() == "X = 1\n"


def test_local_directory_is_used_in_place_and_a_missing_program_is_named(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("")
    root = make_sm_tree(tmp_path / "ml", {"sagemaker_program": "train.py", "sagemaker_submit_directory":
                                          f"file://{tmp_path / 'src'}"})  # fmt: skip
    assert code.fetch(script_job.load(root, {})) == tmp_path / "src"
    root = make_sm_tree(tmp_path / "ml2", {"sagemaker_program": "missing.py"})
    with pytest.raises(ConfigError, match="sagemaker_program 'missing.py' not found"):
        code.fetch(script_job.load(root, {}))


@pytest.mark.parametrize("python_has_tar_filters", [True, False], ids=["data-filter", "older-python"])
def test_a_tarball_escaping_the_code_dir_is_refused(tmp_path, monkeypatch, python_has_tar_filters):
    if not python_has_tar_filters:  # the image's Python 3.11.2 (and the DLC's 3.10) predate tarfile's filters
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    (tmp_path / "evil.py").write_text("")
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "evil.py", arcname="../evil.py")
    root = make_sm_tree(tmp_path / "ml", {"sagemaker_program": "evil.py", "sagemaker_submit_directory": str(archive)})
    with pytest.raises(ConfigError, match="cannot unpack"):
        code.fetch(script_job.load(root, {}))


def test_toolkit_tf_config_for_multi_worker_mirrored():
    hosts = ("algo-1", "algo-2")
    assert toolkit_multiworker_tf_config(hosts, "algo-2") == {
        "cluster": {"worker": ["algo-1:8890", "algo-2:8890"]}, "environment": "cloud",
        "task": {"index": 1, "type": "worker"},
    }  # fmt: skip


def test_toolkit_tf_config_for_parameter_servers():
    hosts = ("algo-1", "algo-2", "algo-3")
    cluster = {"master": ["algo-1:2222"], "ps": ["algo-1:2223", "algo-2:2223", "algo-3:2223"],
               "worker": ["algo-2:2222", "algo-3:2222"]}  # fmt: skip
    assert toolkit_parameter_server_tf_config(hosts, "algo-1") == {
        "cluster": cluster, "environment": "cloud", "task": {"index": 0, "type": "master"}}
    assert toolkit_parameter_server_tf_config(hosts, "algo-3")["task"] == {"index": 1, "type": "worker"}
    assert toolkit_parameter_server_tf_config(hosts, "algo-3", ps_task=True)["task"] == {"index": 2, "type": "ps"}
    with pytest.raises(ValueError):
        toolkit_parameter_server_tf_config(("algo-1",), "algo-1", ps_task=True)
