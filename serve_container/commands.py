"""Pure builders: TF Serving's command line and batching file, and gunicorn's command line (model configs:
model_catalog.py)."""

from __future__ import annotations

from pathlib import Path

from serve_container.contract import Settings

APP_FACTORY = "serve_container.app:create_app()"


def batching_parameters_text(settings: Settings) -> str:
    """BatchingParameters (text proto), the DLC's four knobs."""
    return (
        f"max_batch_size {{ value: {settings.max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {settings.batch_timeout_micros} }}\n"
        f"num_batch_threads {{ value: {settings.num_batch_threads} }}\n"
        f"max_enqueued_batches {{ value: {settings.max_enqueued_batches} }}\n"
    )


def tfs_command(settings: Settings, model_config: Path, batching_file: Path | None) -> list[str]:
    command = [
        settings.tfs_binary,
        f"--port={settings.tfs_grpc_port}",
        # The app speaks gRPC; REST is there for DLC hooks that post to context.rest_uri.
        f"--rest_api_port={settings.tfs_rest_port}",
        f"--model_config_file={model_config}",
        # The model directory never changes under a running endpoint: load once, fail fast if it is broken.
        "--file_system_poll_wait_seconds=0",
        "--max_num_load_retries=0",
    ]
    if settings.enable_batching:
        if batching_file is None:
            raise ValueError("batching is enabled but no batching parameters file was given")
        command += ["--enable_batching=true", f"--batching_parameters_file={batching_file}"]
    if settings.intra_op_parallelism:
        command.append(f"--tensorflow_intra_op_parallelism={settings.intra_op_parallelism}")
    if settings.inter_op_parallelism:
        command.append(f"--tensorflow_inter_op_parallelism={settings.inter_op_parallelism}")
    return command


def gunicorn_command(settings: Settings, python: str, worker_tmp_dir: str | None = None) -> list[str]:
    command = [
        python,
        "-m",
        "gunicorn",
        f"--bind=0.0.0.0:{settings.port}",
        f"--workers={settings.workers}",
        f"--threads={settings.threads}",
        "--worker-class=gthread",
        f"--timeout={settings.gunicorn_timeout_seconds}",
        f"--graceful-timeout={settings.graceful_timeout_seconds}",
        f"--log-level={settings.log_level.lower()}",
        "--error-logfile=-",
        # No admin socket under $HOME: nothing else in the container talks to gunicorn but signals.
        "--no-control-socket",
    ]
    if worker_tmp_dir:
        # Heartbeat files on tmpfs: a slow overlay filesystem must not make workers look dead.
        command.append(f"--worker-tmp-dir={worker_tmp_dir}")
    return [*command, APP_FACTORY]
