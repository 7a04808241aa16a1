"""Command line of the stand-in: the subset of `tensorflow_model_server` flags this project uses.

Same names, defaults and `--name=value` syntax as the real binary (TF's command_line_flags), plus the
`--name value` form. Stricter than the real binary in one way: an unknown argument is an error (the real
binary prints "unknown argument" and carries on, which hides typos). Pure: no TensorFlow, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

VERSION_TEXT = (
    "TensorFlow ModelServer: 2.16.1-standin (byoc local stand-in, Python gRPC)\nTensorFlow Library: {tf_version}\n"
)
# The real binary returns -1 from main() on a usage error.
USAGE_EXIT_CODE = 255


# Test-only hooks, read from the environment (never set them in an image):
#   TFS_STANDIN_TEST_LOAD_DELAY_SECONDS   sleep this long in LOADING before each version load, so a test can
#                                         observe LOADING (e.g. a new version replacing an available one).
#   TFS_STANDIN_TEST_SERVE_WHILE_LOADING  "1": open the gRPC port before the first models finish loading.
#                                         The real binary opens it only after they are AVAILABLE (and exits
#                                         if one fails); this lets a client test a LOADING model at startup.
LOAD_DELAY_ENV = "TFS_STANDIN_TEST_LOAD_DELAY_SECONDS"
SERVE_WHILE_LOADING_ENV = "TFS_STANDIN_TEST_SERVE_WHILE_LOADING"


class UsageError(Exception):
    """Bad command line: print the message and the usage text, exit USAGE_EXIT_CODE."""


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    port: int = 8500
    rest_api_port: int = 0
    rest_api_num_threads: int = 0
    rest_api_timeout_in_ms: int = 30000
    enable_batching: bool = False
    batching_parameters_file: str = ""
    model_config_file: str = ""
    model_name: str = "default"
    model_base_path: str = ""
    file_system_poll_wait_seconds: int = 1
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    tensorflow_session_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    saved_model_tags: str = "serve"
    grpc_max_threads: int = 0
    grpc_channel_arguments: str = ""
    enable_model_warmup: bool = True
    version: bool = False
    help: bool = False

    @property
    def intra_op_threads(self) -> int:
        # As in TFS: the specific flags override --tensorflow_session_parallelism; 0 means "let TF decide".
        return self.tensorflow_intra_op_parallelism or self.tensorflow_session_parallelism

    @property
    def inter_op_threads(self) -> int:
        return self.tensorflow_inter_op_parallelism or self.tensorflow_session_parallelism

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(tag for tag in self.saved_model_tags.split(",") if tag)


_HELP = {
    "port": "Port to listen on for gRPC API",
    "rest_api_port": "Port to listen on for HTTP/REST API. If set to zero HTTP/REST API will not be exported.",
    "rest_api_num_threads": "Accepted for compatibility; the stand-in's REST server uses a thread per request.",
    "rest_api_timeout_in_ms": "Accepted for compatibility; unused.",
    "enable_batching": "enable batching (the stand-in validates the batching parameters and enforces "
    "max_batch_size per request; it does not merge requests)",
    "batching_parameters_file": "If non-empty, read an ascii BatchingParameters protobuf from this file "
    "and use the contained values instead of the defaults.",
    "model_config_file": "If non-empty, read an ascii ModelServerConfig protobuf from this file and serve "
    "the models in it. (If used, --model_name, --model_base_path are ignored.)",
    "model_name": "name of model (ignored if --model_config_file flag is set)",
    "model_base_path": "path to export (ignored if --model_config_file flag is set, otherwise required)",
    "file_system_poll_wait_seconds": "Seconds between polls of the filesystem for new model versions. "
    "0 = poll exactly once; negative = never poll (the server then waits forever for a model at startup).",
    "max_num_load_retries": "maximum number of times it retries loading a model after the first failure",
    "load_retry_interval_micros": "The interval, in microseconds, between each servable load retry.",
    "tensorflow_session_parallelism": "Threads for running a TensorFlow session. Auto-configured by default.",
    "tensorflow_intra_op_parallelism": "Threads to parallelize the execution of an individual op. "
    "Auto-configured by default.",
    "tensorflow_inter_op_parallelism": "Number of ops that can be executed simultaneously. Auto-configured by default.",
    "saved_model_tags": "Comma-separated set of tags corresponding to the meta graph def to load from SavedModel.",
    "grpc_max_threads": "Max grpc server threads to handle grpc messages (0 = 4 x CPUs).",
    "grpc_channel_arguments": "A comma separated list of arguments to be passed to the grpc server. "
    "(e.g. grpc.max_connection_age_ms=2000)",
    "enable_model_warmup": "Accepted for compatibility; the stand-in does not replay warmup records.",
    "version": "Display version",
    "help": "Print this usage text and exit 0",
}

_FIELDS = {field.name: field for field in dataclasses.fields(ServerOptions)}
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def usage(program: str = "tensorflow_model_server") -> str:
    lines = [f"usage: {program}", "Flags:"]
    for name, field in _FIELDS.items():
        kind = {"int": "int32", "bool": "bool", "str": "string"}[field.type]
        default = field.default
        shown = str(default).lower() if isinstance(default, bool) else f'"{default}"' if kind == "string" else default
        lines.append(f"\t--{name}={shown}\t{kind}\t{_HELP[name]}")
    return "\n".join(lines) + "\n"


def _convert(name: str, raw: str):
    kind = _FIELDS[name].type
    if kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
    elif kind == "int":
        try:
            value = int(raw, 10)
        except ValueError:
            value = None
        if value is not None and _INT32_MIN <= value <= _INT32_MAX:
            return value
    else:
        return raw
    raise UsageError(f"Couldn't interpret value {raw} for flag {name}.")


def _split(argv: Sequence[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            raise UsageError(f"unknown argument: {arg}")
        name, has_value, raw = arg[2:].partition("=")
        if name not in _FIELDS:
            raise UsageError(f"unknown argument: {arg}")
        if not has_value:
            if _FIELDS[name].type == "bool":
                raw = "true"
            elif i < len(args):
                raw = args[i]
                i += 1
            else:
                raise UsageError(f"flag --{name} needs a value")
        values[name] = _convert(name, raw)
    return values


def _validate(options: ServerOptions) -> None:
    if options.help or options.version:
        return
    if not options.model_base_path and not options.model_config_file:
        raise UsageError("one of --model_base_path or --model_config_file is required")
    if not 0 < options.port <= 65535:
        raise UsageError(f"--port must be in 1..65535, got {options.port}")
    if not 0 <= options.rest_api_port <= 65535:
        raise UsageError(f"--rest_api_port must be in 0..65535, got {options.rest_api_port}")
    if options.batching_parameters_file and not options.enable_batching:
        raise UsageError("--batching_parameters_file is set without setting --enable_batching to true.")
    for name in (
        "tensorflow_session_parallelism",
        "tensorflow_intra_op_parallelism",
        "tensorflow_inter_op_parallelism",
        "grpc_max_threads",
        "max_num_load_retries",
        "load_retry_interval_micros",
        "rest_api_num_threads",
    ):
        if getattr(options, name) < 0:
            raise UsageError(f"--{name} must be >= 0, got {getattr(options, name)}")
    if not options.tags:
        raise UsageError("--saved_model_tags must name at least one tag")
    for item in filter(None, options.grpc_channel_arguments.split(",")):
        if "=" not in item:
            raise UsageError(f"--grpc_channel_arguments entry {item!r} is not key=value")


def parse_args(argv: Sequence[str]) -> ServerOptions:
    """Parse argv (without the program name) into ServerOptions; raises UsageError."""
    options = ServerOptions(**_split(argv))
    _validate(options)
    return options


def grpc_channel_options(options: ServerOptions) -> list[tuple[str, int | str]]:
    """--grpc_channel_arguments as grpc.server options; ints stay ints, like the real binary."""
    parsed: list[tuple[str, int | str]] = []
    for item in filter(None, options.grpc_channel_arguments.split(",")):
        key, _, value = item.partition("=")
        try:
            parsed.append((key, int(value)))
        except ValueError:
            parsed.append((key, value))
    return parsed


@dataclasses.dataclass(frozen=True)
class DebugHooks:
    load_delay_seconds: float = 0.0
    serve_while_loading: bool = False


def debug_hooks(environ: Mapping[str, str]) -> DebugHooks:
    raw_delay = environ.get(LOAD_DELAY_ENV, "").strip()
    raw_serve = environ.get(SERVE_WHILE_LOADING_ENV, "").strip()
    try:
        delay = float(raw_delay) if raw_delay else 0.0
    except ValueError:
        delay = -1.0
    if not 0.0 <= delay <= 3600.0:
        raise UsageError(f"{LOAD_DELAY_ENV} must be a number of seconds in [0, 3600], got {raw_delay!r}")
    if raw_serve not in ("", "0", "1"):
        raise UsageError(f"{SERVE_WHILE_LOADING_ENV} must be 0 or 1, got {raw_serve!r}")
    return DebugHooks(load_delay_seconds=delay, serve_while_loading=raw_serve == "1")
