"""Build the training and/or serving image on a DLC base, then push it to ECR with immutable + moving tags.

    python -m scripts.build_and_push --target train serve --region us-east-1 --device cpu

The last lines printed are the pushed images by digest (`<repo>@sha256:...`): pass those to the launchers'
`--image`, so a job runs exactly the bytes that were pushed even if a tag moves later. `--immutable` creates
IMMUTABLE repositories and pushes only the `<version>-<device>-<sha>` tag. GPU training builds compile
Horovod with NCCL (HOROVOD_GPU_OPERATIONS=NCCL): without it multi-GPU allreduce falls back to slow paths.

Credentials: the ECR token comes from ecr:GetAuthorizationToken and goes only into the docker SDK's
in-memory auth store (`DockerClient.login` validates it with the daemon and keeps it in the client; it does
not write ~/.docker/config.json) and into each push request's auth header. It is never printed or logged.
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scripts.config import REPO_ROOT, ConfigError, Settings, check_name, dlc_base_image, load_settings

TARGETS = {
    "train": ("docker/train.Dockerfile", "training"),
    "serve": ("docker/serve.Dockerfile", "inference"),
}
DEFAULT_REPOSITORY_PREFIX = "byoc-tensorflow"
DEFAULT_PLATFORM = "linux/amd64"  # SageMaker's x86 instances; users on ARM laptops would build arm64 otherwise
PLATFORMS = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class BuildSpec:
    target: str
    dockerfile: str
    base_image: str
    repository: str
    tags: tuple[str, ...]  # immutable tag first, then the moving tag (none with --immutable)
    build_args: tuple[tuple[str, str], ...] = ()
    platform: str = DEFAULT_PLATFORM


@dataclass(frozen=True)
class Pushed:
    ref: str  # <repository>:<tag>
    digest: str  # sha256:... of the manifest the registry stored

    @property
    def by_digest(self) -> str:
        return f"{self.ref.rsplit(':', 1)[0]}@{self.digest}"


@dataclass(frozen=True)
class RegistryLogin:
    server: str
    username: str
    password: str = field(repr=False)  # keeps the token out of tracebacks and debug prints


class PushError(RuntimeError):
    """Building, logging in or pushing failed; the message is one line."""


def image_tags(
    version: str, git_sha: str, device: str, dirty: bool, moving_tag: str | None, immutable: bool = False
) -> tuple[str, ...]:
    """`<version>-<device>-<sha>` never moves; the moving tag (default `<version>-<device>`) follows it,
    except in immutable repositories, where no tag can move."""
    fixed = f"{version}-{device}-{git_sha}" + ("-dirty" if dirty else "")
    if immutable:
        if moving_tag:
            raise ConfigError("--moving-tag cannot be used with --immutable (an immutable tag never moves)")
        return (fixed,)
    return (fixed, moving_tag or f"{version}-{device}")


def build_args(target: str, device: str, base_image: str) -> tuple[tuple[str, str], ...]:
    args = [("BASE_IMAGE", base_image)]
    if target == "train" and device == "gpu":
        args.append(("HOROVOD_GPU_OPERATIONS", "NCCL"))  # docker/train.Dockerfile's Horovod build
    return tuple(args)


def build_plan(
    targets: list[str],
    device: str,
    region: str,
    version: str,
    git_sha: str,
    dirty: bool,
    base_image: str | None = None,
    repository_prefix: str = DEFAULT_REPOSITORY_PREFIX,
    moving_tag: str | None = None,
    immutable: bool = False,
    platform: str = DEFAULT_PLATFORM,
) -> list[BuildSpec]:
    if platform not in PLATFORMS:
        raise ConfigError(f"unknown --platform {platform!r} (expected one of {', '.join(PLATFORMS)})")
    plan = []
    for target in targets:
        dockerfile, kind = TARGETS[target]
        base = base_image or dlc_base_image(kind, device, region)
        plan.append(
            BuildSpec(
                target=target,
                dockerfile=dockerfile,
                base_image=base,
                repository=f"{repository_prefix}-{'training' if target == 'train' else 'inference'}",
                tags=image_tags(version, git_sha, device, dirty, moving_tag, immutable),
                build_args=build_args(target, device, base),
                platform=platform,
            )
        )
    return plan


def decode_login(authorization_data: dict) -> RegistryLogin:
    """ECR returns base64("AWS:<password>") and the registry URL it is valid for."""
    username, _, password = base64.b64decode(authorization_data["authorizationToken"]).decode().partition(":")
    return RegistryLogin(server=authorization_data["proxyEndpoint"], username=username, password=password)


def ensure_repository(ecr, name: str, immutable: bool = False) -> tuple[str, bool]:
    """Returns (repositoryUri, created). Scan-on-push is on for repositories we create."""
    try:
        repository = ecr.create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
            # MUTABLE by default: the moving tag must move; immutability then comes from the sha tag.
            imageTagMutability="IMMUTABLE" if immutable else "MUTABLE",
        )["repository"]
        return repository["repositoryUri"], True
    except ecr.exceptions.RepositoryAlreadyExistsException:
        repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        if immutable and repository.get("imageTagMutability") != "IMMUTABLE":
            print(f"warning: existing repository {name} has MUTABLE tags (--immutable applies to new ones)",
                  file=sys.stderr)  # fmt: skip
        return repository["repositoryUri"], False


def ecr_base_registry(base_image: str) -> str | None:
    """The ECR registry a base image is pulled from (DLC bases need a login too), or None."""
    host = base_image.split("/", 1)[0]
    return host if ".dkr.ecr." in host else None


def ecr_login(ecr, docker_client, server: str | None = None) -> RegistryLogin:
    """Logs the docker client in to `server` (default: the ECR proxy endpoint the token names)."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    login = decode_login(data)
    if server:
        login = RegistryLogin(server=server, username=login.username, password=login.password)
    docker_client.login(username=login.username, password=login.password, registry=login.server, reauth=True)
    return login


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # stdout stays for the results (refs and digests)


_LAYER_STATES = {"Pushed": "pushed", "Layer already exists": "already in the registry", "Mounted": "mounted"}


def push_digest(ref: str, lines, progress=_progress) -> str:
    """Reads the daemon's push stream: per-layer progress once per state, the manifest digest at the end."""
    digest, seen = None, set()
    for line in lines:
        if "error" in line:
            raise PushError(f"push of {ref} failed: {line['error'].strip()}")
        state = _LAYER_STATES.get(line.get("status", "").split(" from ")[0])
        if line.get("id") and state and (line["id"], state) not in seen:
            seen.add((line["id"], state))
            progress(f"{ref}: layer {line['id']} {state}")
        digest = line.get("aux", {}).get("Digest", digest)
    if not digest:
        raise PushError(f"push of {ref} reported no digest")
    return digest


def push_image(docker_client, local_image: str, remote_repository: str, tags: tuple[str, ...], login) -> list[Pushed]:
    """Tags `local_image` as `remote_repository:<tag>` for each tag and pushes; returns refs and digests."""
    import docker.errors

    try:
        image = docker_client.images.get(local_image)
    except docker.errors.ImageNotFound as error:
        raise PushError(f"no local image {local_image} to push") from error
    auth = {"username": login.username, "password": login.password}
    pushed = []
    for tag in tags:
        image.tag(remote_repository, tag)
        ref = f"{remote_repository}:{tag}"
        lines = docker_client.api.push(remote_repository, tag, auth_config=auth, stream=True, decode=True)
        pushed.append(Pushed(ref=ref, digest=push_digest(ref, lines)))
        print(f"pushed {ref} {pushed[-1].digest}")
    return pushed


def build_image(docker_client, spec: BuildSpec, context: Path = REPO_ROOT, progress=_progress) -> str:
    """Streams the build; each `Step n/m` line is shown as progress, an error names the step it failed at."""
    import docker.errors

    local_ref = f"{spec.repository}:{spec.tags[0]}"
    step = None
    try:
        chunks = docker_client.api.build(
            path=str(context), dockerfile=spec.dockerfile, buildargs=dict(spec.build_args), tag=local_ref,
            rm=True, platform=spec.platform, decode=True,
        )  # fmt: skip
        for chunk in chunks:
            if "error" in chunk:
                where = f" at '{step}'" if step else ""
                raise PushError(f"build of {spec.dockerfile} failed{where}: {chunk['error'].strip()}")
            text = chunk.get("stream", "").strip()
            if text.startswith("Step "):
                step = text
                progress(f"{local_ref}: {text}")
    except docker.errors.APIError as error:
        raise PushError(f"build of {spec.dockerfile} failed: {error.explanation or error}") from error
    return local_ref


def git_revision(repo: Path = REPO_ROOT) -> tuple[str, bool]:
    """(short sha, dirty). An immutable tag needs a commit to point at."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise ConfigError("cannot tag immutably: no git commit found; pass --git-sha") from error
    return sha, bool(status.strip())


def project_version(pyproject: Path = REPO_ROOT / "pyproject.toml") -> str:
    import tomllib  # Python >= 3.11; on 3.10 pass --image-version

    return tomllib.loads(pyproject.read_text())["project"]["version"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="build_and_push", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", nargs="+", choices=sorted(TARGETS), default=sorted(TARGETS))
    parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--base-image", help="build on this image instead of the region's DLC base")
    parser.add_argument("--repository-prefix", default=DEFAULT_REPOSITORY_PREFIX)
    parser.add_argument("--image-version", help="version part of the tag (default: pyproject version)")
    parser.add_argument("--git-sha", help="source revision for the immutable tag (default: git HEAD)")
    parser.add_argument("--moving-tag", help="tag that follows the latest push (default: <version>-<device>)")
    parser.add_argument("--no-push", action="store_true", help="build and tag locally only")
    parser.add_argument("--platform", choices=PLATFORMS, default=DEFAULT_PLATFORM, help="target platform")
    parser.add_argument("--immutable", action="store_true", help="IMMUTABLE repositories, only the sha tag")
    return parser.parse_args(argv)


def plan_from_args(args: argparse.Namespace, settings: Settings) -> list[BuildSpec]:
    """Everything the flags say, checked before Docker or AWS is touched."""
    check_name(args.repository_prefix, "--repository-prefix")
    if args.git_sha:
        sha, dirty = args.git_sha, False
    else:
        sha, dirty = git_revision()
        if dirty:
            print("warning: work tree has uncommitted changes; tagging as -dirty", file=sys.stderr)
    version = args.image_version or project_version()
    return build_plan(
        args.target, args.device, settings.region, version, sha, dirty,
        args.base_image, args.repository_prefix, args.moving_tag, args.immutable, args.platform,
    )  # fmt: skip


def run(args: argparse.Namespace, settings: Settings, plan: list[BuildSpec], docker_client, ecr) -> list[str]:
    base_registries = sorted({r for spec in plan if (r := ecr_base_registry(spec.base_image))})
    for registry in base_registries:
        # The caller's ECR token also authorises pulls from the DLC account's registry.
        ecr_login(ecr, docker_client, server=registry)
    built = [(spec, build_image(docker_client, spec)) for spec in plan]
    for spec, local_ref in built:
        print(f"built {local_ref} from {spec.dockerfile} on {spec.base_image}")
    if args.no_push:
        return [local_ref for _, local_ref in built]
    pushed = publish(ecr, docker_client, built, settings.registry_override, args.immutable)
    return list(dict.fromkeys(p.by_digest for p in pushed))  # one line per image: tags share the digest


def publish(
    ecr, docker_client, built: list[tuple[BuildSpec, str]], registry_override: str | None, immutable: bool = False
) -> list[Pushed]:
    """Repository (created if missing), login, push of every tag; a repository created here and left empty
    by a failed push is deleted again, and both are reported."""
    login = ecr_login(ecr, docker_client, registry_override)
    pushed = []
    for spec, local_ref in built:
        uri, created = ensure_repository(ecr, spec.repository, immutable)
        if created:
            print(f"created ECR repository {spec.repository} (scan on push)")
        remote = f"{registry_override}/{spec.repository}" if registry_override else uri
        try:
            pushed += push_image(docker_client, local_ref, remote, spec.tags, login)
        except Exception:
            if created:
                ecr.delete_repository(repositoryName=spec.repository, force=True)
                print(f"rolled back: deleted ECR repository {spec.repository} created above", file=sys.stderr)
            raise
    return pushed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(region=args.region)
        plan = plan_from_args(args, settings)
        import boto3
        import docker

        refs = run(args, settings, plan, docker.from_env(), boto3.client("ecr", region_name=settings.region))
    except (ConfigError, PushError) as error:
        print(f"build_and_push: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # botocore/docker errors: one line, not a traceback
        print(f"build_and_push: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    for ref in refs:
        print(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
