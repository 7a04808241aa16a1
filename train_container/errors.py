"""Training failures a user can act on. `cli.main` is the one place that turns them into `output/failure`."""

from __future__ import annotations


class TrainingError(Exception):
    """A failure whose message is the first line of `output/failure` (SageMaker's FailureReason)."""

    exit_code = 1


class ConfigError(TrainingError):
    """Bad hyperparameter, config file or environment value."""

    exit_code = 2


class DataError(TrainingError):
    """A channel is missing, empty or holds records that do not match the schema."""

    exit_code = 3


class StoppedError(TrainingError):
    """SIGTERM (StopTrainingJob, spot interruption): a checkpoint was saved, training did not finish.

    Exit 143 (128 + SIGTERM) like a process killed by the signal: the job is incomplete, so a local
    `docker run` must not look successful. SageMaker marks such jobs Stopped/Interrupted whatever the code.
    """

    exit_code = 143
