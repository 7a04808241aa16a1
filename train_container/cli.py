"""`train`: the entrypoint SageMaker runs (`docker run IMAGE train`).

`sagemaker_program` set -> the user's program (train_container.script); else the built-in trainer:
contract -> launcher (mpirun master / waiting worker) or train here -> export. Every failure ends in
`fail()`, the one place that writes `output/failure` (first line = what to fix; SageMaker shows the first
1024 characters as FailureReason) and picks the exit code.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

from train_container import contract
from train_container.errors import TrainingError

log = logging.getLogger("train_container")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # absl and TF log every checkpoint write and all-reduce at INFO; keep the metrics lines readable.
    logging.getLogger("absl").setLevel(logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    root = contract.root_from_env()
    try:
        from train_container.stopping import StopRequest

        # Installed first so a stop during TensorFlow start-up is not lost.
        stop = StopRequest().install()
        from train_container import mode

        if mode.select(contract.read_raw_hyperparameters(root)) == mode.SCRIPT:
            from train_container.script import job, runner

            return runner.run(job.load(root), stop)
        settings = contract.load(root)
        contract.apply_runtime_env(contract.runtime_env(settings))
        if settings.ignored_hyperparameters:
            log.info("ignored SageMaker hyperparameters: %s", ", ".join(settings.ignored_hyperparameters))
        from train_container.launchers import maybe_launch

        exit_code = maybe_launch(settings)
        if exit_code is not None:
            return exit_code
        return train(settings, stop)
    except Exception as exc:  # the one place every failure is reported
        return fail(root, exc)


def train(settings: contract.TrainingEnv, stop) -> int:
    from train_container import train_loop
    from train_container.runtimes import select_runtime

    train_loop.run(settings, select_runtime(settings), stop)
    return 0


def fail(root: Path, exc: BaseException) -> int:
    message, exit_code, detail = describe(exc)
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    if detail:
        print(detail, file=sys.stderr, flush=True)
    failure = root / "output" / "failure"
    try:
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(message + ("\n\n" + detail if detail else "") + "\n")
    except OSError as error:
        print(f"ERROR: could not write {failure}: {error}", file=sys.stderr, flush=True)
    return exit_code


def describe(exc: BaseException) -> tuple[str, int, str]:
    """(one-line cause, exit code, traceback or '') for any exception."""
    if isinstance(exc, TrainingError):
        # A user program's failure carries its traceback as `detail`.
        return _one_line(str(exc)), exc.exit_code, getattr(exc, "detail", "")
    detail = "".join(traceback.format_exception(exc))
    if type(exc).__module__.startswith("tensorflow"):
        # tf.errors.OpError: the op message names the bad record/label/shape; the class name is the kind.
        text = getattr(exc, "message", None) or str(exc)
        return f"TensorFlow {type(exc).__name__}: {_one_line(text)}", 1, detail
    return f"unexpected error: {type(exc).__name__}: {_one_line(str(exc))}", 1, detail


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


if __name__ == "__main__":
    sys.exit(main())
