"""Parsing mpirun's own words (captured from OpenMPI 4.1 on this machine) into a failure headline."""

from train_container.distributed.failure import describe_mpirun_failure

KILLED = """[1,0]<stdout>:hello 0
[1,1]<stdout>:hello 1
[1,1]<stderr>:boom
--------------------------------------------------------------------------
Primary job  terminated normally, but 1 process returned
a non-zero exit code. Per user-direction, the job has been aborted.
--------------------------------------------------------------------------
--------------------------------------------------------------------------
mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed).
--------------------------------------------------------------------------""".splitlines()

EXITED = """[1,0]<stderr>:warming up
[1,1]<stderr>:Traceback (most recent call last):
[1,1]<stderr>:ValueError: bad thing
--------------------------------------------------------------------------
Primary job  terminated normally, but 1 process returned
a non-zero exit code. Per user-direction, the job has been aborted.
--------------------------------------------------------------------------
--------------------------------------------------------------------------
mpirun detected that one or more processes exited with non-zero status, thus causing
the job to be terminated. The first process to do so was:

  Process name: [[10087,1],1]
  Exit code:    3
--------------------------------------------------------------------------""".splitlines()

LOST = """--------------------------------------------------------------------------
ORTE has lost communication with a remote daemon.

  HNP daemon   : [[29442,0],0] on node algo-1
  Remote daemon: [[29442,0],1] on node algo-2

This is usually due to either a failure of the TCP network
connection to the node, or possibly an internal failure of
the daemon itself. We cannot recover from this failure, and
therefore will terminate the job.
--------------------------------------------------------------------------""".splitlines()


def test_killed_rank_named_with_host_and_signal_not_its_last_log_line():
    assert describe_mpirun_failure(137, KILLED, ["algo-1"]) == (
        "Horovod rank 1 on host vm was killed by signal 9 (Killed)"
    )


def test_rank_error_from_train_is_quoted():
    lines = ["[1,1]<stderr>:ERROR: TensorFlow ResourceExhaustedError: OOM when allocating", *KILLED[3:]]
    assert describe_mpirun_failure(137, lines, ["algo-1"]) == (
        "Horovod rank 1 on host vm was killed by signal 9 (Killed): "
        "TensorFlow ResourceExhaustedError: OOM when allocating"
    )


def test_nonzero_exit_names_rank_code_and_exception():
    assert describe_mpirun_failure(3, EXITED, ["algo-1"]) == (
        "Horovod rank 1 exited with code 3: ValueError: bad thing"
    )


def test_lost_daemon_names_host():
    assert "host algo-2" in describe_mpirun_failure(1, LOST, ["algo-1", "algo-2"])


def test_ssh_failure_names_workers():
    lines = ["ssh: Could not resolve hostname algo-2: Name or service not known", "ORTE was unable..."]
    message = describe_mpirun_failure(1, lines, ["algo-1", "algo-2"])
    assert "algo-2" in message and "Could not resolve" in message


def test_unknown_failure_keeps_code_and_last_line():
    assert describe_mpirun_failure(2, ["", "something odd", ""], ["algo-1"]) == (
        "mpirun exited with code 2: something odd"
    )
