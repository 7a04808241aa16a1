"""Model list and batching parameters, read and validated before anything loads (no TensorFlow here).

--model_config_file is a text-format tensorflow.serving.ModelServerConfig (proto from tensorflow-serving-api).
--batching_parameters_file is a text-format tensorflow.serving.BatchingParameters; that message is not shipped
in tensorflow-serving-api, so its fields are declared here from TFS's session_bundle_config.proto.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import standin_flags
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2


class ConfigError(Exception):
    """A config file is unreadable or invalid; the server refuses to start."""


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    kind: str  # "latest" | "all" | "specific"
    num_versions: int = 1
    versions: frozenset[int] = frozenset()

    def aspired(self, on_disk: set[int]) -> set[int]:
        if self.kind == "all":
            return set(on_disk)
        if self.kind == "specific":
            return on_disk & self.versions
        return set(sorted(on_disk, reverse=True)[: self.num_versions])


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy("latest")
    labels: tuple[tuple[str, int], ...] = ()


@dataclasses.dataclass(frozen=True)
class BatchingSettings:
    # Defaults of TFS's BasicBatchScheduler::Options / BatchingSession when a field is omitted.
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = 0
    thread_pool_name: str = "model_server_batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int = 0


def _batching_parameters_class():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    proto = descriptor_pb2.FileDescriptorProto(
        name="standin/session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = proto.message_type.add(name="BatchingParameters")
    field = descriptor_pb2.FieldDescriptorProto
    int64_box, string_box = ".google.protobuf.Int64Value", ".google.protobuf.StringValue"
    for number, name, kind, type_name, label in (
        (1, "max_batch_size", field.TYPE_MESSAGE, int64_box, field.LABEL_OPTIONAL),
        (2, "batch_timeout_micros", field.TYPE_MESSAGE, int64_box, field.LABEL_OPTIONAL),
        (3, "max_enqueued_batches", field.TYPE_MESSAGE, int64_box, field.LABEL_OPTIONAL),
        (4, "num_batch_threads", field.TYPE_MESSAGE, int64_box, field.LABEL_OPTIONAL),
        (5, "thread_pool_name", field.TYPE_MESSAGE, string_box, field.LABEL_OPTIONAL),
        (6, "allowed_batch_sizes", field.TYPE_INT64, None, field.LABEL_REPEATED),
        (7, "pad_variable_length_inputs", field.TYPE_BOOL, None, field.LABEL_OPTIONAL),
        (8, "enable_large_batch_splitting", field.TYPE_BOOL, None, field.LABEL_OPTIONAL),
        (9, "max_execution_batch_size", field.TYPE_MESSAGE, int64_box, field.LABEL_OPTIONAL),
    ):
        message.field.add(name=name, number=number, type=kind, label=label, type_name=type_name)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


BatchingParameters = _batching_parameters_class()


def _parse_text(path: str, message):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read '{path}': {err}") from err
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as err:
        raise ConfigError(f"Invalid protobuf file: '{path}': {err}") from err


def _policy(config) -> VersionPolicy:
    which = config.model_version_policy.WhichOneof("policy_choice")
    if which is None or which == "latest":
        num = config.model_version_policy.latest.num_versions if which else 1
        if which and num < 1:
            raise ConfigError(f"model {config.name!r}: latest.num_versions must be >= 1")
        return VersionPolicy("latest", num_versions=num or 1)
    if which == "all":
        return VersionPolicy("all")
    versions = frozenset(config.model_version_policy.specific.versions)
    if not versions:
        raise ConfigError(f"model {config.name!r}: specific policy lists no versions")
    return VersionPolicy("specific", versions=versions)


def model_configs_from_message(config, source: str) -> tuple[ModelConfig, ...]:
    """A ModelServerConfig's model list, checked as TFS's ServerCore checks it. An empty list is valid: TFS then
    serves nothing until a HandleReloadConfigRequest adds models."""
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError(f"{source}: only model_config_list is supported (no custom_model_config)")
    models: list[ModelConfig] = []
    for entry in config.model_config_list.config:
        if not entry.name:
            raise ConfigError(f"{source}: a model config has no name")
        if not entry.base_path:
            raise ConfigError(f"{source}: model {entry.name!r} has no base_path")
        if entry.model_platform != "tensorflow":
            # TFS: "Illegal setting neither model_type(deprecated) nor model_platform."
            raise ConfigError(f"{source}: model {entry.name!r} needs model_platform: \"tensorflow\"")
        if entry.name in {m.name for m in models}:
            # ServerCore::ValidateModelConfigList's wording.
            raise ConfigError(f"Illegal to list model {entry.name} multiple times in config list")
        labels = tuple(sorted(entry.version_labels.items()))
        models.append(ModelConfig(entry.name, entry.base_path, _policy(entry), labels))
    return tuple(models)


def model_configs_from_text(path: str) -> tuple[ModelConfig, ...]:
    return model_configs_from_message(_parse_text(path, model_server_config_pb2.ModelServerConfig()), f"'{path}'")


def model_configs(options: standin_flags.ServerOptions) -> tuple[ModelConfig, ...]:
    if options.model_config_file:
        return model_configs_from_text(options.model_config_file)
    if not options.model_name:
        raise ConfigError("--model_name must not be empty")
    return (ModelConfig(options.model_name, options.model_base_path),)


def _unbox(message, name: str, default):
    return getattr(message, name).value if message.HasField(name) else default


def batching_from_text(path: str) -> BatchingSettings:
    params = _parse_text(path, BatchingParameters())
    defaults = BatchingSettings()
    settings = BatchingSettings(
        max_batch_size=_unbox(params, "max_batch_size", defaults.max_batch_size),
        batch_timeout_micros=_unbox(params, "batch_timeout_micros", defaults.batch_timeout_micros),
        max_enqueued_batches=_unbox(params, "max_enqueued_batches", defaults.max_enqueued_batches),
        num_batch_threads=_unbox(params, "num_batch_threads", defaults.num_batch_threads),
        thread_pool_name=_unbox(params, "thread_pool_name", defaults.thread_pool_name),
        allowed_batch_sizes=tuple(params.allowed_batch_sizes),
        pad_variable_length_inputs=params.pad_variable_length_inputs,
        enable_large_batch_splitting=params.enable_large_batch_splitting,
        max_execution_batch_size=_unbox(params, "max_execution_batch_size", defaults.max_execution_batch_size),
    )
    validate_batching(settings, path)
    return settings


def validate_batching(settings: BatchingSettings, source: str) -> None:
    """The checks TFS's batching session and batch scheduler make when the model loads."""
    problems = []
    if settings.max_batch_size <= 0:
        problems.append("max_batch_size must be positive")
    if settings.batch_timeout_micros < 0:
        problems.append("batch_timeout_micros must be non-negative")
    if settings.max_enqueued_batches <= 0:
        problems.append("max_enqueued_batches must be positive")
    if settings.num_batch_threads < 0:
        problems.append("num_batch_threads must be positive")
    sizes = settings.allowed_batch_sizes
    if sizes:
        if any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)) or sizes[0] <= 0:
            problems.append("allowed_batch_sizes entries must be positive and monotonically increasing")
        elif not settings.enable_large_batch_splitting and sizes[-1] != settings.max_batch_size:
            problems.append("final entry in allowed_batch_sizes must equal max_batch_size")
    if problems:
        raise ConfigError(f"'{source}': invalid batching parameters: {'; '.join(problems)}")


def batching(options: standin_flags.ServerOptions) -> BatchingSettings | None:
    if not options.enable_batching:
        return None
    if options.batching_parameters_file:
        return batching_from_text(options.batching_parameters_file)
    return BatchingSettings()
