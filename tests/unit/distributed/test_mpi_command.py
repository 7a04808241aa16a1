import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from train_container.distributed.mpi_command import (
    build_mpirun_command,
    forwarded_env_names,
    host_list,
    parse_custom_mpi_options,
    require_interface,
)
from train_container.distributed.topology import build_topology
from train_container.errors import ConfigError
from train_container.launchers.mpi import network_interface

PROGRAM = ["/usr/bin/python3", "-c", "train()"]


def option_values(command, option):
    """Every value that follows `option` in the command."""
    return [command[i + 1] for i, token in enumerate(command) if token == option]


def mca(command):
    return {command[i + 1]: command[i + 2] for i, token in enumerate(command) if token == "-mca"}


def two_hosts(per_host=4, current="algo-1"):
    return build_topology(["algo-2", "algo-1"], current, per_host)


def test_single_host_runs_locally_with_slots():
    topology = build_topology(["algo-1"], "algo-1", 2)
    command = build_mpirun_command(
        topology, interface="eth0", env_names=[], custom_options=[], program=PROGRAM
    )
    assert command[0] == "mpirun"
    assert "--allow-run-as-root" in command
    assert option_values(command, "-np") == ["2"]
    assert option_values(command, "-H") == ["localhost:2"]
    assert command[-3:] == PROGRAM


def test_two_hosts_four_slots_each():
    command = build_mpirun_command(
        two_hosts(4), interface="eth0", env_names=[], custom_options=[], program=PROGRAM
    )
    assert option_values(command, "-np") == ["8"]
    assert option_values(command, "-H") == ["algo-1:4,algo-2:4"]
    assert option_values(command, "-bind-to") == ["none"]
    assert option_values(command, "-map-by") == ["slot"]


@pytest.mark.parametrize("interface", ["eth0", "ethwe", "ens5", "enp0s31f6"])
def test_interface_goes_to_btl_oob_and_nccl(interface):
    command = build_mpirun_command(
        two_hosts(), interface=interface, env_names=[], custom_options=[], program=PROGRAM
    )
    params = mca(command)
    assert params["btl_tcp_if_include"] == interface
    assert params["oob_tcp_if_include"] == interface
    assert params["orte_abort_on_non_zero_status"] == "1"
    assert params["plm_rsh_no_tree_spawn"] == "1"
    assert f"NCCL_SOCKET_IFNAME={interface}" in option_values(command, "-x")


def test_environment_forwarded_by_name_only_for_known_families():
    names = [
        "PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "NCCL_DEBUG", "FI_PROVIDER", "TF_USE_LEGACY_KERAS",
        "SM_BASE_DIR", "SAGEMAKER_REGION", "HOROVOD_FUSION_THRESHOLD",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "HOME", "OMPI_COMM_WORLD_RANK", "SECRET_TOKEN", "HOSTNAME",
    ]
    command = build_mpirun_command(
        two_hosts(), interface="eth0", env_names=names, custom_options=[], program=PROGRAM
    )
    exported = option_values(command, "-x")
    for name in names[:10]:
        assert name in exported
    for name in ["HOME", "OMPI_COMM_WORLD_RANK", "SECRET_TOKEN", "HOSTNAME"]:
        assert name not in exported


def test_user_nccl_socket_ifname_wins_over_ours():
    command = build_mpirun_command(
        two_hosts(), interface="eth0", env_names=["NCCL_SOCKET_IFNAME"], custom_options=[], program=PROGRAM
    )
    exported = option_values(command, "-x")
    assert "NCCL_SOCKET_IFNAME" in exported
    assert not any(value.startswith("NCCL_SOCKET_IFNAME=") for value in exported)


def test_extra_env_set_with_value_and_not_duplicated_by_name():
    command = build_mpirun_command(
        two_hosts(), interface="eth0", env_names=["SM_BASE_DIR"], custom_options=[], program=PROGRAM,
        extra_env=[("SM_BASE_DIR", "/data/ml")],
    )
    exported = option_values(command, "-x")
    assert "SM_BASE_DIR=/data/ml" in exported
    assert "SM_BASE_DIR" not in exported


def test_custom_options_come_after_ours_and_before_the_program():
    custom = parse_custom_mpi_options("-mca btl_tcp_if_include eth1 -x FOO=bar --display-map")
    command = build_mpirun_command(
        two_hosts(), interface="eth0", env_names=[], custom_options=custom, program=PROGRAM
    )
    start = len(command) - len(PROGRAM) - len(custom)
    assert command[start : start + len(custom)] == custom
    assert command.index("orte_abort_on_non_zero_status") < start


def test_forwarded_names_sorted_and_unique():
    assert forwarded_env_names(["TF_B", "PATH", "TF_A", "PATH"]) == ["PATH", "TF_A", "TF_B"]


def test_host_list_multi_host_uses_hostnames():
    topology = build_topology(["algo-1", "algo-2", "algo-3"], "algo-3", 1)
    assert host_list(topology) == "algo-1:1,algo-2:1,algo-3:1"


# ------------------------------------------------------------ custom_mpi_options


def test_seed_004_options_are_accepted_and_nccl_shorthand_translated():
    # Verbatim from the seed notebook (SageMaker's toolkit turns --NCCL_DEBUG into -x NCCL_DEBUG=...).
    seed = "-verbose --NCCL_DEBUG=INFO -x OMPI_MCA_btl_vader_single_copy_mechanism=none"
    parsed = parse_custom_mpi_options(seed)
    assert parsed == [
        "-verbose", "-x", "NCCL_DEBUG=INFO", "-x", "OMPI_MCA_btl_vader_single_copy_mechanism=none",
    ]


def test_nccl_shorthand_with_separate_value():
    assert parse_custom_mpi_options("--NCCL_ALGO Ring") == ["-x", "NCCL_ALGO=Ring"]


def test_quoted_values_are_kept_whole():
    assert parse_custom_mpi_options("-x 'NCCL_IB_HCA=mlx5_0 mlx5_1'") == ["-x", "NCCL_IB_HCA=mlx5_0 mlx5_1"]


def test_empty_options():
    assert parse_custom_mpi_options("") == []
    assert parse_custom_mpi_options("   ") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-x FOO=1; rm -rf /", "metacharacter"),
        ("-x FOO=$(id)", "metacharacter"),
        ("-x A=1 | tee", "metacharacter"),
        ("-x A=`id`", "metacharacter"),
        ("-x 'unbalanced", "cannot split"),
        ("-verbose python evil.py", "unexpected argument 'python'"),
        ("-np 16", "may not set -np"),
        ("--host a,b", "may not set --host"),
        ("-hostfile /tmp/h", "may not set -hostfile"),
        ("-mca btl_tcp_if_include", "needs 2 value"),
        ("-x", "needs 1 value"),
        ("-x -verbose", "needs 1 value"),
        ("-x 1BAD=2", "not NAME or NAME=value"),
        ("-mca bad.name 1", "not an MCA parameter name"),
        ("--NCCL_DEBUG", "needs a value"),
    ],
)
def test_bad_custom_options_rejected_with_reason(text, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_custom_mpi_options(text)
    assert "custom_mpi_options" in str(info.value)


@given(st.text(max_size=60))
def test_any_text_either_parses_to_options_or_raises_config_error(text):
    try:
        parsed = parse_custom_mpi_options(text)
    except ConfigError:
        return
    # Whatever is accepted starts with an option (never a program mpirun would run) and is stable.
    if parsed:
        assert parsed[0].startswith("-")
    assert parse_custom_mpi_options(shlex.join(parsed)) == parsed


def test_an_interface_the_container_has_is_used_as_named():
    assert require_interface("eth0", ["lo", "eth0"]) == "eth0"


def test_a_missing_interface_fails_in_one_line_naming_the_present_ones():
    # SDK local mode's resourceconfig.json names `ethwe`, which no local container has.
    with pytest.raises(ConfigError) as raised:
        require_interface("ethwe", ["lo", "eth0", "lo"])
    message = str(raised.value)
    assert "\n" not in message
    assert "network_interface_name 'ethwe'" in message
    assert "(present: eth0, lo)" in message


def test_the_launcher_checks_this_machines_real_interfaces():
    assert network_interface("lo") == "lo"  # every Linux network namespace has loopback
    with pytest.raises(ConfigError, match=r"'no-such-if0' is not an interface of this container \(present: .*lo"):
        network_interface("no-such-if0")
