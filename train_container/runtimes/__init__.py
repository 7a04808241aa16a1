"""Which `Runtime` this process trains with: `select_runtime(settings)`, the one place that decides.

Single-process runtimes (one device, MirroredStrategy) are in `single_process`; the multi-process ones (Horovod,
MultiWorkerMirrored, parameter server) in `multi_process`, imported only when chosen. How the processes of a
multi-process job are *started* (mpirun, TF_CONFIG per task) is `train_container.launchers`, not here.
"""

from __future__ import annotations

from train_container.contract import TrainingEnv
from train_container.errors import ConfigError
from train_container.runtime import Runtime
from train_container.runtimes import single_process

MULTI_PROCESS = ("horovod", "multiworker", "parameter_server")


def resolve_distribution(settings: TrainingEnv) -> str:
    """`auto` -> horovod under a multi-rank mpirun, mirrored with >1 GPU or cpu_replicas > 1, else single."""
    hp = settings.hyperparameters
    if hp.distribution != "auto":
        return hp.distribution
    if settings.process.under_mpi and settings.process.size > 1:
        return "horovod"
    if settings.num_gpus > 1 or hp.cpu_replicas > 1:
        return "mirrored"
    return "single"


def select_runtime(settings: TrainingEnv) -> Runtime:
    name = resolve_distribution(settings)
    if name == "single":
        return single_process.single(settings)
    if name == "mirrored":
        return single_process.mirrored(settings)
    if name in MULTI_PROCESS:
        from train_container.runtimes import multi_process

        return getattr(multi_process, name)(settings)
    raise ConfigError(f"hyperparameter 'distribution': unknown value {name!r}")
