"""Everything a script-mode job reads, once: hyperparameters.json split the toolkit's way, channels, hosts.

SageMaker's toolkit splits hyperparameters into three groups, and so do we:
  - its own keys (`SAGEMAKER_KEYS`: program, submit directory, region, ...): configure the run, never passed on;
  - other `sagemaker_*` keys (distribution flags, MPI options): "framework parameters" (SM_FRAMEWORK_PARAMS);
  - everything else: the user's hyperparameters, passed to the program as arguments (`model_dir` included).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from train_container import contract
from train_container.contract import ConfigError, ProcessEnv, ResourceConfig
from train_container.hyperparameters import decode_value

PROGRAM_KEY = "sagemaker_program"
SUBMIT_DIRECTORY_KEY = "sagemaker_submit_directory"
REGION_KEY = "sagemaker_region"
LOG_LEVEL_KEY = "sagemaker_container_log_level"
JOB_NAME_KEY = "sagemaker_job_name"
TUNING_METRIC_KEY = "_tuning_objective_metric"
# The toolkit's params.SAGEMAKER_HYPERPARAMETERS: consumed by the container, hidden from the program.
SAGEMAKER_KEYS = frozenset({
    PROGRAM_KEY, SUBMIT_DIRECTORY_KEY, "sagemaker_enable_cloudwatch_metrics", REGION_KEY, LOG_LEVEL_KEY,
    JOB_NAME_KEY, "default_user_module_name", TUNING_METRIC_KEY, "sagemaker_s3_output",
})  # fmt: skip
SAGEMAKER_PREFIX = "sagemaker_"
MPI_KEY = "sagemaker_mpi_enabled"
MPI_PROCESSES_KEY = "sagemaker_mpi_num_of_processes_per_host"
MPI_OPTIONS_KEY = "sagemaker_mpi_custom_mpi_options"
MULTIWORKER_KEY = "sagemaker_multi_worker_mirrored_strategy_enabled"
PARAMETER_SERVER_KEY = "sagemaker_parameter_server_enabled"
UNSUPPORTED_KEYS = {
    "sagemaker_distributed_dataparallel_enabled": "SageMaker distributed data parallel (smdistributed)",
    "sagemaker_pytorch_xla_multi_worker_enabled": "PyTorch XLA",
    "sagemaker_torch_distributed_enabled": "torch_distributed",
}
DISTRIBUTIONS = ("single", "mpi", "multiworker", "parameter_server")
REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")
DEFAULT_LOG_LEVEL = 20  # logging.INFO, the toolkit's default


@dataclass(frozen=True)
class ScriptJob:
    root: Path
    program: str
    submit_directory: str | None  # as given: s3://.../sourcedir.tar.gz, a directory or a tarball; None = <root>/code
    region: str
    log_level: int
    sagemaker_job_name: str  # the SDK's sagemaker_job_name hyperparameter (the toolkit's SAGEMAKER_JOB_NAME)
    training_job_name: str | None  # TRAINING_JOB_NAME, set by SageMaker
    hyperparameters: Mapping[str, Any]  # every key, values JSON-decoded as the toolkit does
    user_hyperparameters: Mapping[str, Any]
    framework_params: Mapping[str, Any]
    distribution: str
    processes_per_host: int
    custom_mpi_options: str
    channels: Mapping[str, Path]
    input_data_config: Mapping[str, Any]
    resource_config: Mapping[str, Any]
    resource: ResourceConfig
    process: ProcessEnv
    num_cpus: int
    num_gpus: int
    environ: Mapping[str, str]  # the launcher's environment: the program inherits it

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def is_tuning_trial(self) -> bool:
        return TUNING_METRIC_KEY in self.hyperparameters


def split_hyperparameters(decoded: Mapping[str, Any]) -> tuple[dict, dict, dict]:
    """(sagemaker keys, framework params, user hyperparameters), as the toolkit's `Environment` splits them."""
    sagemaker = {k: v for k, v in decoded.items() if k in SAGEMAKER_KEYS or k.startswith(SAGEMAKER_PREFIX)}
    framework = {k: v for k, v in sagemaker.items() if k not in SAGEMAKER_KEYS}
    user = {k: v for k, v in decoded.items() if k not in sagemaker}
    return sagemaker, framework, user


def _flag(framework: Mapping[str, Any], key: str) -> bool:
    value = framework.get(key, False)
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("true", "1"):
        return True
    if str(value).strip().lower() in ("false", "0", ""):
        return False
    raise ConfigError(f"hyperparameter '{key}' must be true or false, got {value!r}")


def select_distribution(framework: Mapping[str, Any]) -> str:
    for key, name in UNSUPPORTED_KEYS.items():
        if _flag(framework, key):
            raise ConfigError(f"hyperparameter '{key}': {name} is not supported by this image; use mpi (Horovod)")
    chosen = [name for key, name in ((MPI_KEY, "mpi"), (MULTIWORKER_KEY, "multiworker"),
                                     (PARAMETER_SERVER_KEY, "parameter_server")) if _flag(framework, key)]  # fmt: skip
    if len(chosen) > 1:
        raise ConfigError(f"only one distribution may be enabled, got {', '.join(chosen)}")
    return chosen[0] if chosen else "single"


def _positive_int(key: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"hyperparameter '{key}' must be an integer, got {value!r}") from None
    if number < 1 or isinstance(value, bool):
        raise ConfigError(f"hyperparameter '{key}' must be an integer >= 1, got {value!r}")
    return number


def load(root: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> ScriptJob:
    environ = dict(os.environ if environ is None else environ)
    root_path = Path(root) if root is not None else contract.root_from_env(environ)
    config_dir = root_path / "input" / "config"
    decoded = {key: decode_value(value) for key, value in contract.read_raw_hyperparameters(root_path).items()}
    sagemaker, framework, user = split_hyperparameters(decoded)
    program = sagemaker.get(PROGRAM_KEY)
    if not isinstance(program, str) or not program.strip():
        raise ConfigError(f"hyperparameter '{PROGRAM_KEY}' must name the program to run, got {program!r}")
    submit = sagemaker.get(SUBMIT_DIRECTORY_KEY)
    if submit is not None and not isinstance(submit, str):
        raise ConfigError(f"hyperparameter '{SUBMIT_DIRECTORY_KEY}' must be a string, got {submit!r}")
    region = sagemaker.get(REGION_KEY) or next((environ[n] for n in REGION_ENVS if environ.get(n)), "")
    try:
        log_level = int(sagemaker.get(LOG_LEVEL_KEY, DEFAULT_LOG_LEVEL))
    except (TypeError, ValueError):
        raise ConfigError(f"hyperparameter '{LOG_LEVEL_KEY}' must be an integer") from None
    input_data_config = contract.read_json(config_dir / "inputdataconfig.json", default={}) or {}
    resource_config = contract.read_json(config_dir / "resourceconfig.json", default=None)
    resource = contract.read_resource_config(config_dir / "resourceconfig.json")
    if not isinstance(resource_config, dict):
        resource_config = {"current_host": resource.current_host, "hosts": list(resource.hosts)}
    channels = {name: channel.path for name, channel in contract.read_channels(root_path).items()}
    processes = framework.get(MPI_PROCESSES_KEY, 1)
    options = framework.get(MPI_OPTIONS_KEY, "")
    return ScriptJob(
        root=root_path,
        program=program.strip(),
        submit_directory=submit.strip() or None if submit else None,
        region=str(region),
        log_level=log_level,
        sagemaker_job_name=str(sagemaker.get(JOB_NAME_KEY, "")),
        training_job_name=contract.read_job_name(environ),
        hyperparameters=MappingProxyType(decoded),
        user_hyperparameters=MappingProxyType(user),
        framework_params=MappingProxyType(framework),
        distribution=select_distribution(framework),
        processes_per_host=_positive_int(MPI_PROCESSES_KEY, processes),
        custom_mpi_options=str(options) if options is not None else "",
        channels=MappingProxyType(channels),
        input_data_config=MappingProxyType(dict(input_data_config)),
        resource_config=MappingProxyType(resource_config),
        resource=resource,
        process=contract.read_process_env(environ),
        num_cpus=contract.count_env(environ, contract.NUM_CPUS_ENV, default=contract.visible_cpus()),
        num_gpus=contract.count_env(environ, contract.NUM_GPUS_ENV, default=contract.visible_gpus()),
        environ=MappingProxyType(environ),
    )
