"""The program's environment and arguments, rendered exactly as sagemaker-training-toolkit renders them.

`to_cmd_args`: keys sorted; `--name` (`-n` for one letter); a value is `str()` of the JSON-decoded hyperparameter
(so `true` -> `True`, `[1, 2]` -> `[1, 2]`, `0.10` -> `0.1`), a dict becomes `k=v,k2=v2` (sorted), null becomes ''.
`to_env_vars`: `SM_<KEY>` upper-cased; strings as they are, None as '', anything else compact sorted JSON.
Pure functions: `script_env(job, code_dir)` is a dict; runner.py and rank.py apply it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from train_container.script.job import ScriptJob

HOMOGENEOUS_GROUP = "homogeneousCluster"
# Under the container's own values: tf.keras is tf_keras in this image (Horovod 0.28 cannot use Keras 3), as
# the image's ENV says; a job's Environment may still choose Keras 3 for a script that does not use Horovod.
PROGRAM_ENV_DEFAULTS = {"TF_USE_LEGACY_KERAS": "1"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return str(value)


def to_cmd_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for key in sorted(hyperparameters):
        name = _text(key)
        args.append((f"--{name}" if len(name) > 1 else f"-{name}") if name else "")
        value = hyperparameters[key]
        if isinstance(value, Mapping):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append(_text(value))
    return args


def env_value(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin1")
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def to_env_vars(mapping: Mapping[str, Any]) -> dict[str, str]:
    return {f"SM_{str(key).upper()}" if key else "": env_value(value) for key, value in mapping.items()}


def module_name(program: str) -> str:
    return program[:-3] if program.endswith(".py") else program


def user_hyperparameters(job: ScriptJob) -> dict[str, Any]:
    """What the program receives as arguments. A tuning trial's S3 model_dir gets the job name appended, as the TF
    toolkit does, so trials sharing one output path never overwrite each other."""
    user = dict(job.user_hyperparameters)
    model_dir = user.get("model_dir")
    if job.is_tuning_trial and isinstance(model_dir, str) and not model_dir.startswith("/opt/ml"):
        user["model_dir"] = f"{model_dir}/{job.training_job_name}/model"
    return user


def user_args(job: ScriptJob) -> list[str]:
    return to_cmd_args(user_hyperparameters(job))


def _instance_groups(job: ScriptJob) -> tuple[str, list, list, dict, list]:
    """(current group, its hosts, group names, groups by name, distribution groups): heterogeneous clusters."""
    config = job.resource_config
    groups = [group for group in config.get("instance_groups", []) or [] if isinstance(group, Mapping)]
    current = str(config.get("current_group_name", HOMOGENEOUS_GROUP))
    by_name = {str(group.get("instance_group_name")): dict(group) for group in groups}
    current_hosts = list(by_name.get(current, {}).get("hosts", []))
    distributed = [current] if job.distribution != "single" else []
    distributed = job.framework_params.get("sagemaker_distribution_instance_groups", distributed)
    return current, current_hosts, list(by_name), by_name, distributed


def training_env(job: ScriptJob, code_dir: Path) -> dict[str, Any]:
    """SM_TRAINING_ENV: the toolkit's `Environment` as one JSON object (scripts read it with json.loads)."""
    resource = job.resource
    data = job.root / "input" / "data"
    current_group, group_hosts, groups, groups_dict, distribution_groups = _instance_groups(job)
    return {
        "additional_framework_parameters": dict(job.framework_params),
        "channel_input_dirs": {name: str(data / name) for name in job.channels},
        "current_host": resource.current_host,
        "current_instance_group": current_group,
        "current_instance_group_hosts": group_hosts,
        "current_instance_type": job.resource_config.get("current_instance_type", "local"),
        "distribution_hosts": list(resource.hosts),
        "distribution_instance_groups": distribution_groups,
        "framework_module": None,
        "hosts": list(resource.hosts),
        "hyperparameters": user_hyperparameters(job),
        "input_config_dir": str(job.input_dir / "config"),
        "input_data_config": dict(job.input_data_config),
        "input_dir": str(job.input_dir),
        "instance_groups": groups,
        "instance_groups_dict": groups_dict,
        "is_hetero": len(groups) > 1,
        "is_master": resource.is_master_host,
        "is_modelparallel_enabled": None,
        "job_name": job.training_job_name,
        "log_level": job.log_level,
        "master_hostname": resource.hosts[0],
        "model_dir": str(job.model_dir),
        "module_dir": job.submit_directory or str(code_dir),
        "module_name": module_name(job.program),
        "network_interface_name": resource.network_interface_name,
        "num_cpus": job.num_cpus,
        "num_gpus": job.num_gpus,
        "output_data_dir": str(job.output_dir / "data"),
        "output_dir": str(job.output_dir),
        "output_intermediate_dir": str(job.output_dir / "intermediate"),
        "resource_config": dict(job.resource_config),
        "user_entry_point": job.program,
    }


def script_env(job: ScriptJob, code_dir: Path, python_path: Sequence[str] = ()) -> dict[str, str]:
    """Every variable the program gets on top of the container's environment (TF_CONFIG is the runner's)."""
    env = training_env(job, code_dir)
    mapping: dict[str, Any] = {
        "hosts": env["hosts"],
        "network_interface_name": env["network_interface_name"],
        "hps": env["hyperparameters"],
        "user_entry_point": job.program,
        "framework_params": env["additional_framework_parameters"],
        "resource_config": env["resource_config"],
        "input_data_config": env["input_data_config"],
        "output_data_dir": env["output_data_dir"],
        "channels": sorted(job.channels),
        "current_host": env["current_host"],
        "current_instance_type": env["current_instance_type"],
        "current_instance_group": env["current_instance_group"],
        "current_instance_group_hosts": env["current_instance_group_hosts"],
        "instance_groups": env["instance_groups"],
        "instance_groups_dict": env["instance_groups_dict"],
        "distribution_instance_groups": env["distribution_instance_groups"],
        "is_hetero": env["is_hetero"],
        "module_name": env["module_name"],
        "log_level": job.log_level,
        "framework_module": None,
        "input_dir": env["input_dir"],
        "input_config_dir": env["input_config_dir"],
        "output_dir": env["output_dir"],
        "num_cpus": job.num_cpus,
        "num_gpus": job.num_gpus,
        "model_dir": env["model_dir"],
        "module_dir": env["module_dir"],
        "training_env": env,
        "user_args": user_args(job),
        "output_intermediate_dir": env["output_intermediate_dir"],
    }
    for name, path in env["channel_input_dirs"].items():
        mapping[f"channel_{name}"] = path
    for key, value in env["hyperparameters"].items():
        mapping[f"hp_{key}"] = value
    result = to_env_vars(mapping)
    existing = job.environ.get("PYTHONPATH", "")
    result.update(
        SAGEMAKER_JOB_NAME=job.sagemaker_job_name,
        SAGEMAKER_REGION=job.region,
        CURRENT_HOST=env["current_host"],
        PYTHONPATH=os.pathsep.join([str(code_dir), *python_path, *([existing] if existing else [])]),
    )
    return result


def program_env(job: ScriptJob, code_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The program's whole environment: defaults < the container's < the toolkit's SM_* < `extra` (TF_CONFIG)."""
    return {**PROGRAM_ENV_DEFAULTS, **job.environ, **script_env(job, code_dir), **(extra or {})}
