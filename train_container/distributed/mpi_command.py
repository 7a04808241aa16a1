"""Pure builders for the `mpirun` command line that starts Horovod ranks on one or many hosts."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence

from train_container.distributed.topology import Topology
from train_container.errors import ConfigError

# Variables the ranks need from the launcher's environment. mpirun's `-x` takes exact names only, so the
# launcher passes the names present and this module picks those to forward.
FORWARDED_PREFIXES = ("NCCL_", "FI_", "TF_", "SM_", "SAGEMAKER_", "HOROVOD_", "OMP_", "KMP_", "BYOC_")
FORWARDED_NAMES = frozenset(
    {
        "PATH",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "PYTHONUNBUFFERED",
        "CUDA_VISIBLE_DEVICES",
        "RDMAV_FORK_SAFE",
        "TRAINING_JOB_NAME",
        "TRAINING_JOB_ARN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        # Ranks on other hosts reach S3 with the job's role through the container credentials endpoint.
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    }
)

# Options the launcher owns: letting users set them would break the host/rank layout it computed.
RESERVED_OPTIONS = frozenset(
    {"-np", "-n", "-c", "--np", "-H", "-host", "--host", "-hostfile", "--hostfile", "-machinefile",
     "--machinefile", "-app", "--app"}
)
# mpirun options that take values; every other option is treated as a flag, so a stray word in
# custom_mpi_options is rejected instead of silently becoming the program mpirun runs.
OPTION_ARITY = {
    "-x": 1,
    "-mca": 2,
    "--mca": 2,
    "-gmca": 2,
    "--gmca": 2,
    "-bind-to": 1,
    "--bind-to": 1,
    "-map-by": 1,
    "--map-by": 1,
    "-rank-by": 1,
    "--rank-by": 1,
    "-output-filename": 1,
    "--output-filename": 1,
    "-wdir": 1,
    "--wdir": 1,
    "-timeout": 1,
    "--timeout": 1,
    "-tune": 1,
    "--tune": 1,
}
_OPTION = re.compile(r"^--?[A-Za-z][A-Za-z0-9_-]*$")
# SageMaker's toolkit turns `--NCCL_DEBUG=INFO` into `-x NCCL_DEBUG=INFO`; users' notebooks rely on it.
_NCCL_SHORTHAND = re.compile(r"^--(NCCL_[A-Z0-9_]+)(?:=(.*))?$")
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(=[^\x00-\x1f]*)?$")
_MCA_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_SHELL_METACHARACTERS = re.compile(r"[;&|`$<>\\\x00-\x1f]")


def parse_custom_mpi_options(text: str) -> list[str]:
    """Split and validate `custom_mpi_options`; return mpirun arguments or raise ConfigError saying why."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"custom_mpi_options: cannot split {text!r}: {exc}") from None
    for token in tokens:
        if _SHELL_METACHARACTERS.search(token):
            raise ConfigError(
                f"custom_mpi_options: {token!r} contains a shell metacharacter; options are passed to "
                "mpirun directly, never through a shell"
            )
    result: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        shorthand = _NCCL_SHORTHAND.match(token)
        if shorthand:
            name, value = shorthand.groups()
            if value is None:
                if index + 1 >= len(tokens) or tokens[index + 1].startswith("-"):
                    raise ConfigError(f"custom_mpi_options: {token} needs a value")
                value = tokens[index + 1]
                index += 1
            result += ["-x", f"{name}={value}"]
            index += 1
            continue
        if not _OPTION.match(token):
            raise ConfigError(
                f"custom_mpi_options: unexpected argument {token!r}; expected mpirun options such as "
                "'-x NAME=value' or '-mca name value'"
            )
        if token in RESERVED_OPTIONS:
            raise ConfigError(
                f"custom_mpi_options may not set {token}: hosts and process counts come from "
                "resourceconfig.json and processes_per_host"
            )
        arity = OPTION_ARITY.get(token, 0)
        values = tokens[index + 1 : index + 1 + arity]
        if len(values) < arity or any(v.startswith("-") for v in values):
            raise ConfigError(f"custom_mpi_options: {token} needs {arity} value(s), got {values}")
        if token == "-x" and not _ENV_ASSIGNMENT.match(values[0]):
            raise ConfigError(f"custom_mpi_options: -x {values[0]!r} is not NAME or NAME=value")
        if arity == 2 and not _MCA_NAME.match(values[0]):
            raise ConfigError(f"custom_mpi_options: {token} {values[0]!r} is not an MCA parameter name")
        result += [token, *values]
        index += 1 + arity
    return result


def require_interface(name: str, present: Iterable[str]) -> str:
    """`name` if it is one of the container's interfaces, else one clear line naming them.

    mpirun's `btl/oob_tcp_if_include` with a missing interface fails only after the hosts connect, with an opaque
    error (the DLC toolkit passes the name through unchecked). Real SageMaker writes the instance's real interface
    (eth0 on current instances), so a missing one is a wrong resourceconfig.json, e.g. SDK local mode's `ethwe`.
    No fallback: on a multi-NIC host guessing another interface could route ranks over the wrong network.
    """
    names = sorted(set(present))
    if name not in names:
        raise ConfigError(
            f"resourceconfig.json network_interface_name {name!r} is not an interface of this container "
            f"(present: {', '.join(names) or 'none'}); mpirun cannot bind to it"
        )
    return name


def forwarded_env_names(names: Iterable[str]) -> list[str]:
    """The launcher's variables every rank must see, sorted so the command is reproducible."""
    return sorted(
        name for name in set(names) if name in FORWARDED_NAMES or name.startswith(FORWARDED_PREFIXES)
    )


def host_list(topology: Topology) -> str:
    """`-H` value. A single host is `localhost` so mpirun forks locally instead of ssh-ing to itself."""
    if not topology.is_multi_host:
        return f"localhost:{topology.processes_per_host}"
    return ",".join(f"{host}:{topology.processes_per_host}" for host in topology.hosts)


def build_mpirun_command(
    topology: Topology,
    *,
    interface: str,
    env_names: Iterable[str],
    custom_options: Sequence[str],
    program: Sequence[str],
    mpirun: str = "mpirun",
    extra_env: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """mpirun that starts `program` once per slot on every host.

    `extra_env` pairs are set for every rank (`-x NAME=value`); `env_names` are forwarded by name.
    `custom_options` come last before the program, so a user's `-mca` or `-x` overrides ours.
    """
    if not program:
        raise ValueError("program must not be empty")
    forwarded = forwarded_env_names(env_names)
    command = [
        mpirun,
        "--allow-run-as-root",
        "--tag-output",
        "-np",
        str(topology.world_size),
        "-H",
        host_list(topology),
        # Horovod/TF manage their own threads; binding every rank to one core starves them.
        "-bind-to",
        "none",
        "-map-by",
        "slot",
        "-mca",
        "btl_tcp_if_include",
        interface,
        "-mca",
        "oob_tcp_if_include",
        interface,
        # One dead rank aborts the job instead of leaving the others blocked in allreduce.
        "-mca",
        "orte_abort_on_non_zero_status",
        "1",
        # The master ssh-es to every host itself; tree spawn would need worker-to-worker ssh.
        "-mca",
        "plm_rsh_no_tree_spawn",
        "1",
    ]
    explicit = {name for name, _ in extra_env}
    if "NCCL_SOCKET_IFNAME" not in forwarded and "NCCL_SOCKET_IFNAME" not in explicit:
        command += ["-x", f"NCCL_SOCKET_IFNAME={interface}"]
    for name, value in extra_env:
        command += ["-x", f"{name}={value}"]
    for name in forwarded:
        if name not in explicit:
            command += ["-x", name]
    command += list(custom_options)
    command += list(program)
    return command
