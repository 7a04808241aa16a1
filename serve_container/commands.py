"""Pure builders: TF Serving's command line, model config and batching file, and gunicorn's command line."""

from __future__ import annotations

import re
from pathlib import Path

from serve_container.contract import Settings

_VERSION_DIR = re.compile(r"^[0-9]+$")
APP_FACTORY = "serve_container.app:create_app()"


def find_versions(model_dir: Path) -> list[int]:
    """Numeric version directories holding a SavedModel, ascending."""
    if not model_dir.is_dir():
        return []
    versions = []
    for entry in model_dir.iterdir():
        has_model = (entry / "saved_model.pb").is_file() or (entry / "saved_model.pbtxt").is_file()
        if _VERSION_DIR.match(entry.name) and has_model:
            versions.append(int(entry.name))
    return sorted(versions)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def model_config_text(name: str, base_path: Path, versions: list[int]) -> str:
    """ModelServerConfig (text proto) serving every exported version, so tfs-model-version can pick one."""
    version_lines = "".join(f"        versions: {v}\n" for v in versions)
    return (
        "model_config_list {\n"
        "  config {\n"
        f"    name: {_quote(name)}\n"
        f"    base_path: {_quote(str(base_path))}\n"
        '    model_platform: "tensorflow"\n'
        "    model_version_policy {\n"
        "      specific {\n"
        f"{version_lines}"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


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
        "--rest_api_port=0",  # the proxy speaks gRPC only
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
