"""Process launch: decides whether this `train` process trains or starts/awaits the processes that do.

SageMaker runs the same `train` on every host. With distribution=horovod the first one becomes the mpirun
launcher (the master) and the others serve sshd until the master reports the result; the ranks mpirun
starts run `train` again and, seeing OMPI_COMM_WORLD_* in the contract, train. With
distribution=parameter_server every host starts its ps/worker servers (and the chief on the first host).
Everything else (single, mirrored, multiworker, `auto`) trains in this process.
"""

from __future__ import annotations

from train_container.contract import TrainingEnv


def maybe_launch(settings: TrainingEnv) -> int | None:
    """An exit code when this process acted as launcher (mpirun master, waiting worker); None: train here."""
    process = settings.process
    distribution = settings.hyperparameters.distribution
    if distribution == "horovod" and not process.under_mpi:
        from train_container.distributed import horovod_launch

        return horovod_launch.launch(settings)
    if distribution == "parameter_server" and process.tf_config is None:
        from train_container.distributed import ps_launch

        return ps_launch.launch(settings)
    return None
