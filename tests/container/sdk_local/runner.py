"""Host side of the SDK local-mode test: the driver's environment and command lines, running it, cleaning up.

No AWS here: the SDK gets dummy credentials, a fixed region, no instance-metadata lookups, telemetry opted out
through its own config file, and AWS_ENDPOINT_URL pointing every boto3 client at a moto server on 127.0.0.1,
so an SDK path that talked to AWS even in local mode would reach moto, never the internet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DRIVER = Path(__file__).with_name("driver.py")
REGION = "us-west-2"
SDK_NETWORK = "sagemaker-local"  # the docker network both SDK local modes attach their containers to
# The SDK's user config (SAGEMAKER_USER_CONFIG_OVERRIDE): without the opt-out, every decorated SDK call sends a
# telemetry GET to AWS and asks STS for the account id.
SDK_CONFIG_YAML = """\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""


@dataclass(frozen=True)
class DriverRun:
    argv: tuple[str, ...]
    returncode: int
    log: str
    result: dict

    def describe(self) -> str:
        return f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- output\n{self.log}"


def sdk_environment(base: Mapping[str, str], sdk_config: Path, aws_endpoint_url: str) -> dict[str, str]:
    """`base` (PATH, HOME, DOCKER_HOST...) without any real AWS settings, plus the offline SDK settings."""
    env = {key: value for key, value in base.items() if not key.startswith(("AWS_", "SAGEMAKER_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=aws_endpoint_url,
        AWS_EC2_METADATA_DISABLED="true",
        SAGEMAKER_USER_CONFIG_OVERRIDE=str(sdk_config),
        PYTHONUNBUFFERED="1",
    )
    return env


def train_command(
    python: Path,
    image: str,
    root: Path,
    channels: Mapping[str, Path],
    hyperparameters: Mapping[str, str],
    result: Path,
    source: tuple[Path, str] | None = None,
) -> list[str]:
    argv = [str(python), str(DRIVER), "train", "--image", image, "--root", str(root), "--result", str(result)]
    if source is not None:
        argv += ["--source-dir", str(source[0]), "--entry-script", source[1]]
    for name, path in channels.items():
        argv += ["--channel", f"{name}={path}"]
    for name, value in hyperparameters.items():
        argv += ["--hyperparameter", f"{name}={value}"]
    return argv


def serve_command(
    python: Path,
    image: str,
    root: Path,
    model_data: str,
    port: int,
    requests: Mapping[str, tuple[str, Path]],
    result: Path,
) -> list[str]:
    argv = [str(python), str(DRIVER), "serve", "--image", image, "--root", str(root), "--result", str(result)]
    argv += ["--model-data", model_data, "--port", str(port)]
    for name, (content_type, path) in requests.items():
        argv += ["--request", f"{name}:{content_type}:{path}"]
    return argv


def run_driver(argv: Sequence[str], env: Mapping[str, str], result: Path, timeout: float) -> DriverRun:
    done = subprocess.run(
        list(argv), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    payload = json.loads(result.read_text()) if done.returncode == 0 and result.exists() else {}
    return DriverRun(tuple(argv), done.returncode, done.stdout, payload)


def compose_command() -> list[str]:
    """The compose CLI the SDK itself prefers: `docker compose` v2, else `docker-compose`."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")


def compose_down(compose_file: Path) -> None:
    """ModelTrainer's local mode leaves the stopped training container behind; remove it."""
    if compose_file.exists():
        subprocess.run(
            [*compose_command(), "-f", str(compose_file), "down", "--remove-orphans"],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip


def _containers_under(root: Path) -> list[str]:
    """IDs of the compose containers whose project lives under `root`."""
    label = "com.docker.compose.project.working_dir"
    listed = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={label}", "--format", f'{{{{.ID}}}} {{{{.Label "{label}"}}}}'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    prefix = str(root.resolve())
    return [line.split(" ", 1)[0] for line in listed.stdout.splitlines() if line.partition(" ")[2].startswith(prefix)]


def describe_containers_under(root: Path) -> str:
    """How each container of the run ended (exit code, OOM kill, times) and the kernel's OOM lines: what a failed
    multi-container run needs to say who stopped whom (compose aborts every container when one exits)."""
    ids = _containers_under(root)
    state = "{{.Name}}: exit {{.State.ExitCode}}, OOMKilled {{.State.OOMKilled}}, error '{{.State.Error}}', "
    state += "started {{.State.StartedAt}}, finished {{.State.FinishedAt}}"
    lines = ["--- containers"]
    if ids:
        inspected = subprocess.run(["docker", "inspect", "--format", state, *ids], capture_output=True, text=True,
                                   check=False)  # fmt: skip
        lines.append(inspected.stdout.strip() or inspected.stderr.strip())
    kernel = subprocess.run(["dmesg"], capture_output=True, text=True, check=False)
    oom = [line for line in kernel.stdout.splitlines() if "oom" in line.lower() or "killed process" in line.lower()]
    lines.append("kernel OOM lines: " + ("\n".join(oom[-10:]) if oom else "none"))
    return "\n".join(lines)


def remove_containers_under(root: Path) -> None:
    """Remove compose containers whose project lives under `root` (what a failed or killed run left)."""
    ids = _containers_under(root)
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=120, check=False)


def remove_exited_sdk_jobs(*images: str) -> None:
    """sagemaker-core's local engine leaves each finished job's `<random>-algo-N-<random>` container behind; its
    compose file lives in a temporary folder of the engine's own, so remove_containers_under cannot find them."""
    ids = []
    for image in images:
        listed = subprocess.run(["docker", "ps", "-aq", "--filter", "status=exited", "--filter", f"ancestor={image}",
                                 "--filter", "name=-algo-"], capture_output=True, text=True, check=False)  # fmt: skip
        ids += listed.stdout.split()
    if ids:
        subprocess.run(["docker", "rm", *ids], capture_output=True, timeout=120, check=False)


def remove_sdk_network() -> None:
    """Neither local mode removes the network it made; `docker network rm` refuses while anything still uses it."""
    subprocess.run(["docker", "network", "rm", SDK_NETWORK], capture_output=True, timeout=60, check=False)
