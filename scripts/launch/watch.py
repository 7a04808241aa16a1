"""`--wait`: poll a SageMaker resource with backoff until it settles, one progress line per change.

Which statuses end a wait comes from botocore's own waiter definitions (their `path` acceptors) where SageMaker
has a waiter; the waiters themselves are not called because they block silently at a fixed delay, and a user
watching a 2-hour job wants progress lines and a backoff. Tuning jobs and pipeline executions have no waiter: their
end states are the API's documented terminal statuses. `train --wait` also streams the job's CloudWatch log lines
(log group /aws/sagemaker/TrainingJobs, one stream per host `<job>/algo-N-<epoch>`), as the SDK's `logs=True` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Polling delays: `initial` seconds, growing by `factor` up to `maximum` (a long job costs few calls)."""

    initial: float = 5.0
    maximum: float = 60.0
    factor: float = 1.5

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(self.maximum, delay * self.factor)


@dataclass(frozen=True)
class Kind:
    what: str  # for messages: "training job"
    describe: str  # boto3 method
    name_key: str
    status_key: str
    wanted: str  # the status that means success
    waiter: str | None  # botocore waiter whose acceptors list the end states
    terminal: tuple[str, ...] = ()  # end states where there is no waiter


KINDS = {
    "training": Kind(
        "training job", "describe_training_job", "TrainingJobName", "TrainingJobStatus", "Completed",
        "training_job_completed_or_stopped",
    ),
    "transform": Kind(
        "transform job", "describe_transform_job", "TransformJobName", "TransformJobStatus", "Completed",
        "transform_job_completed_or_stopped",
    ),
    "processing": Kind(
        "processing job", "describe_processing_job", "ProcessingJobName", "ProcessingJobStatus", "Completed",
        "processing_job_completed_or_stopped",
    ),
    "endpoint": Kind(
        "endpoint", "describe_endpoint", "EndpointName", "EndpointStatus", "InService", "endpoint_in_service"
    ),
    "tuning": Kind(
        "tuning job", "describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus", "Completed", None, ("Completed", "Failed", "Stopped"),
    ),
    "pipeline": Kind(
        "pipeline execution", "describe_pipeline_execution", "PipelineExecutionArn", "PipelineExecutionStatus",
        "Succeeded", None, ("Succeeded", "Failed", "Stopped", "CompletedWithFailures"),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    status: str
    ok: bool
    failure_reason: str | None
    description: dict


def end_states(sagemaker, kind: Kind) -> frozenset[str]:
    if kind.waiter is None:
        return frozenset(kind.terminal)
    acceptors = sagemaker.get_waiter(kind.waiter).config.acceptors
    return frozenset(a.expected for a in acceptors if a.matcher == "path" and a.argument == kind.status_key)


def progress(kind_name: str, name: str, description: dict) -> str:
    kind = KINDS[kind_name]
    status = description[kind.status_key]
    if kind_name == "training":
        return f"{name}: {status} / {description.get('SecondaryStatus', '-')}"
    if kind_name == "tuning":
        counts = description.get("TrainingJobStatusCounters", {})
        failed = counts.get("RetryableError", 0) + counts.get("NonRetryableError", 0)
        return (
            f"{name}: {status}, trials {counts.get('Completed', 0)} completed, "
            f"{counts.get('InProgress', 0)} running, {failed} failed, {counts.get('Stopped', 0)} stopped"
        )
    return f"{name}: {status}"


def watch(
    sagemaker,
    kind_name: str,
    name: str,
    emit: Callable[[str], None],
    backoff: Backoff,
    tail: Callable[[], list[str]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Polls until an end state; `tail` (log lines since the last call) is read after each describe, so the
    lines written before the job ended are all shown before its final status."""
    kind = KINDS[kind_name]
    final = end_states(sagemaker, kind)
    started, last = clock(), None
    delays = backoff.delays()
    while True:
        description = getattr(sagemaker, kind.describe)(**{kind.name_key: name})
        for line in tail() if tail else ():
            emit(line)
        line = progress(kind_name, name, description)
        if line != last:
            emit(f"{line} ({clock() - started:.0f}s)")
            last = line
        status = description[kind.status_key]
        if status in final:
            reason = description.get("FailureReason") or None
            return Outcome(status, status == kind.wanted, reason, description)
        sleep(next(delays))


class LogTail:
    """New CloudWatch log lines of a training job's streams since the last call (host-prefixed if several)."""

    GROUP = "/aws/sagemaker/TrainingJobs"

    def __init__(self, logs, job_name: str):
        self._logs = logs
        self._prefix = f"{job_name}/"
        self._tokens: dict[str, str] = {}

    def _streams(self) -> list[str]:
        names, kwargs = [], {"logGroupName": self.GROUP, "logStreamNamePrefix": self._prefix}
        while True:
            page = self._logs.describe_log_streams(**kwargs)
            names += [stream["logStreamName"] for stream in page.get("logStreams", [])]
            if not page.get("nextToken"):
                return sorted(names)
            kwargs["nextToken"] = page["nextToken"]

    def __call__(self) -> list[str]:
        try:
            streams = self._streams()
        except self._logs.exceptions.ResourceNotFoundException:
            return []  # the group appears with the job's first log line
        lines = []
        for stream in streams:
            host = stream[len(self._prefix) :].split("-")
            label = "-".join(host[:2]) if len(host) >= 2 else stream
            while True:
                kwargs = {"logGroupName": self.GROUP, "logStreamName": stream, "startFromHead": True}
                if stream in self._tokens:
                    kwargs["nextToken"] = self._tokens[stream]
                page = self._logs.get_log_events(**kwargs)
                events = page.get("events", [])
                lines += [f"[{label}] {e['message']}" if len(streams) > 1 else e["message"] for e in events]
                self._tokens[stream] = page["nextForwardToken"]
                if not events:
                    break
        return lines


def best_trial(description: dict) -> str | None:
    """One line from DescribeHyperParameterTuningJob's BestTrainingJob: its metric and hyperparameters."""
    best = description.get("BestTrainingJob")
    if not best:
        return None
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
    tuned = ", ".join(f"{k}={v}" for k, v in sorted(best.get("TunedHyperParameters", {}).items()))
    return (
        f"best trial {best.get('TrainingJobName')}: {metric.get('MetricName')}={metric.get('Value')} "
        f"({metric.get('Type')}); hyperparameters: {tuned or '-'}"
    )
