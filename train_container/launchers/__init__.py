"""Launchers: how a job's processes start on this host, kept apart from what each process runs.

A launcher is the `train` process that starts, supervises and ends the processes that train (it trains
nothing itself). Two of them, each used for the built-in trainer and for a user's program alike:
  - `mpi`: the first host runs mpirun over every host, the others serve sshd until the master reports the
    result; each rank runs the given program (the built-in `train` again, or `train_container.script.rank`).
  - `parameter_server`: every host starts its ps/worker tasks with their own TF_CONFIG (and the chief on the
    first host). User scripts get the TF toolkit's layout from `train_container.script.runner`.
Everything else (single, mirrored, multiworker, `auto`) runs in this process: no launcher.
Which strategy a training process then uses is `train_container.runtimes`; `scripts/launch` is unrelated (it
submits jobs to SageMaker from outside).

`maybe_launch` decides for the built-in trainer; `train_container.script.runner` for user programs.
"""

from __future__ import annotations

from train_container.contract import TrainingEnv


def maybe_launch(settings: TrainingEnv) -> int | None:
    """An exit code when this process acted as launcher (mpirun master, waiting worker); None: train here."""
    process = settings.process
    distribution = settings.hyperparameters.distribution
    if distribution == "horovod" and not process.under_mpi:
        from train_container.launchers import mpi

        return mpi.launch(settings)
    if distribution == "parameter_server" and process.tf_config is None:
        from train_container.launchers import parameter_server

        return parameter_server.launch(settings)
    return None
