"""Every request the launchers send, checked against the SageMaker API before it leaves this machine.

Two layers, both in this one module:
1. botocore's own service model for the operation's input shape. `botocore.validate.ParamValidator` checks
   required members, unknown members, types and *minimum* lengths/values only; the same model also carries
   maximums, enums and patterns (the API enforces them server-side), so `_constraint_errors` walks the shape
   for those. Patterns are Java regexes; the `regex` module reads their `\\p{L}` classes. A pattern neither
   engine reads is skipped and listed in `unreadable_patterns()` (tests assert none of ours is).
2. The API's documented cross-field rules, which no shape expresses (`CROSS_FIELD_RULES`).

The first violation becomes one `RequestError` line naming the API field and, where a flag sets it, the flag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache

from scripts.config import ConfigError

# Flags that set a field, so a message tells the user what to change.
FIELD_FLAGS = {
    "MaxPayloadInMB": "--max-payload",
    "MaxConcurrentTransforms": "--max-concurrent",
    "MaxRuntimeInSeconds": "--max-run",
    "MaxWaitTimeInSeconds": "--max-wait",
    "MaxNumberOfTrainingJobs": "--max-jobs",
    "MaxParallelTrainingJobs": "--max-parallel",
    "TrainingJobEarlyStoppingType": "--early-stopping",
    "InstanceType": "--instance-type",
    "InstanceCount": "--instance-count",
    "MetricName": "--objective",
    "Type": "--objective-type",
}
# StaticHyperParameters keys Hyperband reads its resource (MaxResource) from (API: HyperbandStrategyConfig).
HYPERBAND_RESOURCE_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
HYPERBAND_MAX_RESOURCE = 20_000
MAX_TRANSFORM_PAYLOAD_MB = 100  # MaxPayloadInMB, and MaxPayloadInMB x MaxConcurrentTransforms
DEFAULT_MAX_PAYLOAD_MB = 6  # what SageMaker uses when MaxPayloadInMB is left out


class RequestError(ConfigError):
    """A request the SageMaker API would refuse; the message is one line naming the field."""


@cache
def service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def input_shape(operation: str):
    return service_model().operation_model(operation).input_shape


def check_request(operation: str, request: Mapping) -> dict:
    """Returns `request` unchanged if the API would accept it; raises RequestError (one line) if not."""
    from botocore.validate import ParamValidator

    shape = input_shape(operation)
    # botocore fills idempotency tokens (ClientRequestToken) itself when it sends the call.
    tokens = {
        name: "idempotency-token-filled-by-botocore"
        for name, member in shape.members.items()
        if member.metadata.get("idempotencyToken") and name not in request
    }
    report = ParamValidator().validate({**request, **tokens}, shape)
    if report.has_errors():
        raise RequestError(f"{operation}: {report.generate_report().splitlines()[0]}")
    for problem in _constraint_errors(request, shape, ""):
        raise RequestError(f"{operation}: {problem}")
    for rule in CROSS_FIELD_RULES.get(operation, ()):
        problem = rule(request)
        if problem:
            raise RequestError(f"{operation}: {problem}")
    return dict(request)


# ------------------------------------------------------------------ shape constraints botocore leaves out


def _flag(field: str) -> str:
    leaf = field.rsplit(".", 1)[-1].split("[", 1)[0]
    return f" ({FIELD_FLAGS[leaf]})" if leaf in FIELD_FLAGS else ""


def _constraint_errors(value, shape, path: str) -> Iterator[str]:
    if isinstance(value, _Deferred | _DeferredInt | _DeferredFloat):
        return  # computed by a pipeline at run time (check_pipeline_definition)
    kind = shape.type_name
    metadata = shape.metadata
    if kind == "structure" and isinstance(value, Mapping):
        for key, item in value.items():
            if key in shape.members:
                yield from _constraint_errors(item, shape.members[key], f"{path}.{key}" if path else key)
    elif kind == "list" and isinstance(value, list):
        if "max" in metadata and len(value) > metadata["max"]:
            yield f"{path} has {len(value)} items, at most {metadata['max']} allowed{_flag(path)}"
        for index, item in enumerate(value):
            yield from _constraint_errors(item, shape.member, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, Mapping):
        if "max" in metadata and len(value) > metadata["max"]:
            yield f"{path} has {len(value)} entries, at most {metadata['max']} allowed"
        for key, item in value.items():
            yield from _constraint_errors(key, shape.key, f"{path} key {key!r}")
            yield from _constraint_errors(item, shape.value, f"{path}.{key}")
    elif kind == "string" and isinstance(value, str):
        if "max" in metadata and len(value) > metadata["max"]:
            yield f"{path} is {len(value)} characters long, at most {metadata['max']} allowed{_flag(path)}"
        elif shape.enum and value not in shape.enum:
            shown = ", ".join(shape.enum[:6]) + (", ..." if len(shape.enum) > 6 else "")
            yield f"{path} {value!r} is not one of {shown}{_flag(path)}"
        elif "pattern" in metadata and not _matches(metadata["pattern"], value):
            yield f"{path} {value!r} does not match the API's pattern {metadata['pattern']}{_flag(path)}"
    elif kind in ("integer", "long", "double", "float") and isinstance(value, int | float):  # noqa: SIM102
        if "max" in metadata and value > metadata["max"]:
            yield f"{path} is {value}, at most {metadata['max']} allowed{_flag(path)}"


_UNREADABLE: set[str] = set()


@cache
def _compiled(pattern: str):
    import regex  # reads Java's \p{...} property classes, which `re` does not

    try:
        return regex.compile(pattern)
    except regex.error:
        _UNREADABLE.add(pattern)
        return None


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    # The API matches the whole value (Java's Pattern.matches); an unreadable pattern is not checked here.
    return compiled is None or compiled.fullmatch(value) is not None


def unreadable_patterns() -> frozenset[str]:
    return frozenset(_UNREADABLE)


# ------------------------------------------------------------------ cross-field rules (API documentation)


def _transform_payload(request: Mapping) -> str | None:
    payload = request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)
    concurrent = request.get("MaxConcurrentTransforms")
    if payload > MAX_TRANSFORM_PAYLOAD_MB:  # documented, but not a `max` in the shape
        return f"MaxPayloadInMB is {payload}, at most {MAX_TRANSFORM_PAYLOAD_MB} allowed (--max-payload)"
    if payload and concurrent and payload * concurrent > MAX_TRANSFORM_PAYLOAD_MB:
        return (
            f"MaxPayloadInMB x MaxConcurrentTransforms = {payload} x {concurrent} = {payload * concurrent} MB, "
            f"at most {MAX_TRANSFORM_PAYLOAD_MB} allowed (--max-payload x --max-concurrent)"
        )
    return None


def _spot_stopping(definition: Mapping, where: str = "") -> str | None:
    stopping = definition.get("StoppingCondition", {})
    max_run = stopping.get("MaxRuntimeInSeconds")
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    if definition.get("EnableManagedSpotTraining"):
        if max_wait is None:
            return f"{where}StoppingCondition.MaxWaitTimeInSeconds is required with managed spot (--max-wait)"
        if max_run is not None and max_wait < max_run:
            return (
                f"{where}StoppingCondition.MaxWaitTimeInSeconds ({max_wait}) must be >= MaxRuntimeInSeconds "
                f"({max_run}) with managed spot (--max-wait >= --max-run)"
            )
    elif max_wait is not None:
        return f"{where}StoppingCondition.MaxWaitTimeInSeconds only applies with EnableManagedSpotTraining (--spot)"
    return None


def _training_spot(request: Mapping) -> str | None:
    return _spot_stopping(request)


def _tuning_definitions(request: Mapping) -> list[tuple[str, Mapping]]:
    if "TrainingJobDefinition" in request:
        return [("TrainingJobDefinition.", request["TrainingJobDefinition"])]
    return [(f"TrainingJobDefinitions[{i}].", d) for i, d in enumerate(request.get("TrainingJobDefinitions", []))]


def _tuning_spot(request: Mapping) -> str | None:
    for where, definition in _tuning_definitions(request):
        problem = _spot_stopping(definition, where)
        if problem:
            return problem
    return None


def _config(request: Mapping) -> Mapping:
    return request.get("HyperParameterTuningJobConfig", {})


def _hyperband(request: Mapping) -> str | None:
    config = _config(request)
    strategy_config = config.get("StrategyConfig", {}).get("HyperbandStrategyConfig")
    if config.get("Strategy") != "Hyperband":
        if strategy_config is not None:
            return "StrategyConfig.HyperbandStrategyConfig is only allowed with Strategy Hyperband"
        return None
    if config.get("TrainingJobEarlyStoppingType", "Off") != "Off":
        return (
            "TrainingJobEarlyStoppingType must be Off with Strategy Hyperband, which stops trials itself "
            "(--early-stopping)"
        )
    strategy_config = strategy_config or {}
    max_resource = strategy_config.get("MaxResource")
    if max_resource is None:
        for where, definition in _tuning_definitions(request):
            static = definition.get("StaticHyperParameters", {})
            found = [key for key in HYPERBAND_RESOURCE_KEYS if key in static]
            if not found:
                return (
                    f"Strategy Hyperband needs HyperbandStrategyConfig.MaxResource or a static resource "
                    f"hyperparameter in {where}StaticHyperParameters ({', '.join(HYPERBAND_RESOURCE_KEYS)}); "
                    "give --hp epochs=N and do not tune epochs"
                )
            try:
                max_resource = int(static[found[0]])
            except ValueError:
                return f"{where}StaticHyperParameters.{found[0]} must be an integer for Strategy Hyperband"
    if max_resource > HYPERBAND_MAX_RESOURCE:
        return f"Hyperband's resource (MaxResource / epochs) is {max_resource}, at most {HYPERBAND_MAX_RESOURCE}"
    min_resource = strategy_config.get("MinResource")
    if min_resource is not None and min_resource > max_resource:
        return f"HyperbandStrategyConfig.MinResource ({min_resource}) must be <= MaxResource ({max_resource})"
    return None


def _grid(request: Mapping) -> str | None:
    config = _config(request)
    if config.get("Strategy") != "Grid":
        return None
    ranges = config.get("ParameterRanges", {})
    numeric = [key for key in ("ContinuousParameterRanges", "IntegerParameterRanges") if ranges.get(key)]
    if numeric:
        return f"Strategy Grid searches categorical ranges only; ParameterRanges has {', '.join(numeric)}"
    if not ranges.get("CategoricalParameterRanges"):
        return "Strategy Grid needs at least one CategoricalParameterRanges entry"
    return None


def _scaling(request: Mapping) -> str | None:
    ranges = _config(request).get("ParameterRanges", {})
    for key in ("ContinuousParameterRanges", "IntegerParameterRanges"):
        for index, entry in enumerate(ranges.get(key, [])):
            where = f"ParameterRanges.{key}[{index}]"
            try:
                low, high = float(entry["MinValue"]), float(entry["MaxValue"])
            except (KeyError, ValueError):
                return f"{where}: MinValue and MaxValue must be numbers"
            if low > high:
                return f"{where}: MinValue ({entry['MinValue']}) must not exceed MaxValue ({entry['MaxValue']})"
            scaling = entry.get("ScalingType", "Auto")
            if scaling == "Logarithmic" and low <= 0:
                return f"{where}: ScalingType Logarithmic needs MinValue > 0 (got {entry['MinValue']})"
            if scaling == "ReverseLogarithmic":
                if key != "ContinuousParameterRanges":
                    return f"{where}: ScalingType ReverseLogarithmic applies to continuous ranges only"
                if not (low >= 0 and high < 1):
                    return f"{where}: ScalingType ReverseLogarithmic needs 0 <= MinValue and MaxValue < 1"
    return None


def _objective_metric(request: Mapping) -> str | None:
    objective = _config(request).get("HyperParameterTuningJobObjective")
    if not objective:
        return None
    for where, definition in _tuning_definitions(request):
        algorithm = definition.get("AlgorithmSpecification", {})
        if "TrainingImage" not in algorithm:
            continue  # a built-in algorithm defines its own metrics
        names = [d["Name"] for d in algorithm.get("MetricDefinitions", [])]
        if objective.get("MetricName") not in names:
            return (
                f"HyperParameterTuningJobObjective.MetricName {objective.get('MetricName')!r} is not one of "
                f"{where}AlgorithmSpecification.MetricDefinitions ({', '.join(names) or 'none'}) (--objective)"
            )
    return None


def _resource_limits(request: Mapping) -> str | None:
    limits = _config(request).get("ResourceLimits", {})
    jobs, parallel = limits.get("MaxNumberOfTrainingJobs"), limits.get("MaxParallelTrainingJobs")
    if jobs is not None and parallel is not None and parallel > jobs:
        return (
            f"ResourceLimits.MaxParallelTrainingJobs ({parallel}) must be <= MaxNumberOfTrainingJobs ({jobs}) "
            "(--max-parallel <= --max-jobs)"
        )
    return None


PROCESSING_ROOT = "/opt/ml/processing/"


def _processing_paths(request: Mapping) -> str | None:
    """Inputs and outputs need their own name and a LocalPath under /opt/ml/processing/ (API documentation)."""
    kinds = (
        ("ProcessingInputs", request.get("ProcessingInputs", []), "InputName", "S3Input"),
        ("ProcessingOutputConfig.Outputs", request.get("ProcessingOutputConfig", {}).get("Outputs", []),
         "OutputName", "S3Output"),
    )  # fmt: skip
    for where, items, name_key, s3_key in kinds:
        names = [item.get(name_key) for item in items]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            return f"{where}: {name_key} {', '.join(duplicates)} used twice; names must be unique"
        for index, item in enumerate(items):
            if item.get("AppManaged") or s3_key not in item:
                continue
            path = item[s3_key].get("LocalPath")
            if not path or not path.startswith(PROCESSING_ROOT):
                return f"{where}[{index}].{s3_key}.LocalPath {path!r} must begin with {PROCESSING_ROOT}"
    return None


CROSS_FIELD_RULES: dict[str, tuple[Callable[[Mapping], str | None], ...]] = {
    "CreateTransformJob": (_transform_payload,),
    "CreateProcessingJob": (_processing_paths,),
    "CreateTrainingJob": (_training_spot,),
    "CreateHyperParameterTuningJob": (
        _tuning_spot, _hyperband, _grid, _scaling, _objective_metric, _resource_limits,
    ),
}  # fmt: skip


# ------------------------------------------------------------------ pipeline definitions (Version 2020-12-01)

PIPELINE_VERSION = "2020-12-01"
# A job step's Arguments are the API request SageMaker sends for it, minus the name it generates; its
# properties (`Steps.<name>.<path>`) are that job's Describe response.
STEP_OPERATIONS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName", "DescribeProcessingJob"),
    "Training": ("CreateTrainingJob", "TrainingJobName", "DescribeTrainingJob"),
    "Transform": ("CreateTransformJob", "TransformJobName", "DescribeTransformJob"),
    "Model": ("CreateModel", "ModelName", "DescribeModel"),
    "RegisterModel": ("CreateModelPackage", None, "DescribeModelPackage"),
}
STEP_KEYS = {"Name", "Type", "Arguments", "DependsOn", "PropertyFiles", "Description", "DisplayName",
             "CacheConfig", "RetryPolicies"}  # fmt: skip
PARAMETER_TYPES = {"String": str, "Integer": int, "Float": (int, float), "Boolean": bool}
SHAPE_PARAMETER_TYPES = {"string": "String", "integer": "Integer", "long": "Integer", "float": "Float",
                         "double": "Float", "boolean": "Boolean"}  # fmt: skip
EXECUTION_VARIABLES = {"PipelineExecutionId", "PipelineExecutionArn", "PipelineName", "PipelineArn",
                       "StartDateTime", "CurrentDateTime"}  # fmt: skip
CONDITION_TYPES = {"GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo", "Equals", "NotEquals"}
FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")
_NAME_PATTERN = r"[A-Za-z0-9\-_]{1,64}"


def _is_function(value) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in FUNCTIONS


class _Deferred(str):
    """A value the pipeline computes at run time: type-correct for botocore, skipped by the constraint walk."""


class _DeferredInt(int):
    pass


class _DeferredFloat(float):
    pass


_PLACEHOLDERS = {"string": _Deferred("deferred"), "integer": _DeferredInt(1), "long": _DeferredInt(1),
                 "float": _DeferredFloat(1.0), "double": _DeferredFloat(1.0), "boolean": True}  # fmt: skip


@dataclass(frozen=True)
class _Context:
    parameters: Mapping[str, str]  # name -> Type
    steps: Mapping[str, Mapping]  # every step by name, nested ones included
    step: str  # the step being checked


def check_pipeline_definition(definition: Mapping) -> dict:
    """Returns `definition` if SageMaker Pipelines would accept its structure; raises RequestError (one line).

    Checked: the top-level layout and parameters; unique step names; each job step's Arguments through
    `check_request` of its API operation (functions stand in as type-correct placeholders, a parameter must have
    the member's type); every `Get` names a parameter, an execution variable, or a member of another step's
    Describe response (botocore's output shape); property files name one of their step's outputs; conditions;
    and no step depends on itself, directly or through others."""
    unknown = set(definition) - {"Version", "Metadata", "Parameters", "PipelineExperimentConfig", "Steps"}
    if unknown:
        raise RequestError(f"pipeline definition: unknown top-level key(s) {', '.join(sorted(unknown))}")
    if definition.get("Version") != PIPELINE_VERSION:
        raise RequestError(f"pipeline definition: Version must be {PIPELINE_VERSION!r}")
    parameters = {}
    for item in definition.get("Parameters", []):
        name, kind = item.get("Name"), item.get("Type", "String")
        if not isinstance(name, str) or not _matches(_NAME_PATTERN, name) or name in parameters:
            raise RequestError(f"pipeline parameter name {name!r} is malformed or used twice")
        if kind not in PARAMETER_TYPES:
            raise RequestError(f"pipeline parameter {name}: Type {kind!r} is not one of {', '.join(PARAMETER_TYPES)}")
        default = item.get("DefaultValue")
        if default is not None and (
            not isinstance(default, PARAMETER_TYPES[kind]) or (kind != "Boolean" and isinstance(default, bool))
        ):
            raise RequestError(f"pipeline parameter {name}: DefaultValue {default!r} is not a {kind}")
        parameters[name] = kind
    steps = definition.get("Steps")
    if not isinstance(steps, list) or not steps:
        raise RequestError("pipeline definition: Steps must be a non-empty list")
    by_name: dict[str, Mapping] = {}
    for step in _all_steps(steps):
        name = step.get("Name")
        if not isinstance(name, str) or not _matches(_NAME_PATTERN, name):
            raise RequestError(f"pipeline step name {name!r} must match {_NAME_PATTERN}")
        if name in by_name:
            raise RequestError(f"pipeline step name {name} is used twice")
        by_name[name] = step
    edges = {}
    for name, step in by_name.items():
        context = _Context(parameters, by_name, name)
        edges[name] = _check_step(step, context)
    _check_acyclic(edges)
    return dict(definition)


def _all_steps(steps: list) -> Iterator[Mapping]:
    for step in steps:
        if not isinstance(step, Mapping):
            raise RequestError(f"pipeline step {step!r:.40} is not an object")
        yield step
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments", {})
            yield from _all_steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))


def _check_step(step: Mapping, context: _Context) -> set[str]:
    """The names of the steps this one reads from or depends on."""
    where = f"pipeline step {context.step}"
    unknown = set(step) - STEP_KEYS
    if unknown:
        raise RequestError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    kind, arguments = step.get("Type"), step.get("Arguments")
    if not isinstance(arguments, Mapping):
        raise RequestError(f"{where}: Arguments must be an object")
    depends = set(step.get("DependsOn", []))
    for other in depends:
        if other not in context.steps:
            raise RequestError(f"{where}: DependsOn names no step {other!r}")
    if kind in STEP_OPERATIONS:
        operation, name_member, _ = STEP_OPERATIONS[kind]
        if name_member and name_member in arguments:
            raise RequestError(f"{where}: Arguments must not set {name_member} (SageMaker names the job)")
        request, refs = _resolve(arguments, input_shape(operation), context, "")
        if name_member:
            request[name_member] = _Deferred("deferred")
        try:
            check_request(operation, request)
        except RequestError as error:
            raise RequestError(f"{where}: {error}") from error
        for item in step.get("PropertyFiles", []):
            _check_property_file(item, kind, arguments, where)
        return depends | refs
    if step.get("PropertyFiles"):
        raise RequestError(f"{where}: only Processing steps have PropertyFiles")
    if kind == "Condition":
        refs = set()
        conditions = arguments.get("Conditions")
        if not conditions:
            raise RequestError(f"{where}: a Condition step needs Conditions")
        for condition in conditions:
            if condition.get("Type") not in CONDITION_TYPES:
                raise RequestError(f"{where}: condition Type {condition.get('Type')!r} is not one of "
                                   f"{', '.join(sorted(CONDITION_TYPES))}")  # fmt: skip
            for side in ("LeftValue", "RightValue"):
                if side not in condition:
                    raise RequestError(f"{where}: a {condition['Type']} condition needs {side}")
                refs |= _references(condition[side], context)
        for branch in ("IfSteps", "ElseSteps"):
            for inner in arguments.get(branch, []):
                if inner.get("Type") == "Condition":
                    raise RequestError(f"{where}: {branch} may not hold another Condition step")
        return depends | refs
    if kind == "Fail":
        return depends | _references(arguments.get("ErrorMessage", ""), context)
    raise RequestError(f"{where}: Type {kind!r} is not one of {', '.join([*STEP_OPERATIONS, 'Condition', 'Fail'])}")


def _resolve(value, shape, context: _Context, path: str) -> tuple[object, set[str]]:
    """`value` with each function replaced by a placeholder of `shape`'s type, and the steps they read."""
    if _is_function(value):
        refs = _references(value, context)
        kind = shape.type_name
        if kind not in _PLACEHOLDERS:
            raise RequestError(f"pipeline step {context.step}: {path} is a {kind}; it cannot be computed")
        if "Get" in value and value["Get"].startswith("Parameters."):
            declared = context.parameters[value["Get"].split(".", 1)[1]]
            if declared != SHAPE_PARAMETER_TYPES[kind]:
                raise RequestError(
                    f"pipeline step {context.step}: {path} needs a {SHAPE_PARAMETER_TYPES[kind]} but parameter "
                    f"{value['Get'].split('.', 1)[1]} is a {declared}"
                )
        elif "Std:Join" in value and kind != "string":
            raise RequestError(f"pipeline step {context.step}: {path} is a {kind}; Std:Join makes a string")
        return _PLACEHOLDERS[kind], refs
    refs: set[str] = set()
    if shape.type_name == "structure" and isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if key in shape.members:
                result[key], found = _resolve(item, shape.members[key], context, f"{path}.{key}" if path else key)
                refs |= found
            else:
                result[key] = item  # check_request reports it as unknown
        return result, refs
    if shape.type_name == "list" and isinstance(value, list):
        result = []
        for index, item in enumerate(value):
            resolved, found = _resolve(item, shape.member, context, f"{path}[{index}]")
            result.append(resolved)
            refs |= found
        return result, refs
    if shape.type_name == "map" and isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            result[key], found = _resolve(item, shape.value, context, f"{path}.{key}")
            refs |= found
        return result, refs
    return value, refs


def _references(value, context: _Context) -> set[str]:
    """Checks every function inside `value`; returns the step names they read."""
    if isinstance(value, list):
        return set().union(*(_references(item, context) for item in value)) if value else set()
    if not _is_function(value):
        if isinstance(value, Mapping):
            raise RequestError(f"pipeline step {context.step}: {json_preview(value)} is not a function "
                               f"({', '.join(FUNCTIONS)})")  # fmt: skip
        return set()
    (function, body), = value.items()
    where = f"pipeline step {context.step}"
    if function == "Std:Join":
        if not isinstance(body, Mapping) or not isinstance(body.get("On"), str) or not isinstance(
            body.get("Values"), list
        ):
            raise RequestError(f"{where}: Std:Join needs On (a string) and Values (a list)")
        return _references(body["Values"], context)
    if function == "Std:JsonGet":
        source = body.get("PropertyFile") if isinstance(body, Mapping) else None
        if not isinstance(body.get("Path"), str) or not _is_function(source) or "Get" not in source:
            raise RequestError(f"{where}: Std:JsonGet needs PropertyFile (a Get) and Path")
        return _references(source, context)
    reference = body if isinstance(body, str) else ""
    head, _, rest = reference.partition(".")
    if head == "Parameters":
        if rest not in context.parameters:
            raise RequestError(f"{where}: Get {reference!r} names no pipeline parameter")
        return set()
    if head == "Execution":
        if rest not in EXECUTION_VARIABLES:
            raise RequestError(f"{where}: Get {reference!r} is not an execution variable")
        return set()
    if head == "Steps":
        step_name, _, property_path = rest.partition(".")
        other = context.steps.get(step_name)
        if other is None or step_name == context.step:
            raise RequestError(f"{where}: Get {reference!r} names no other step")
        _check_property_path(other, property_path, where, reference)
        return {step_name}
    raise RequestError(f"{where}: Get {reference!r} must start with Parameters., Execution. or Steps.")


def json_preview(value) -> str:
    return json.dumps(value)[:60]


def _check_property_path(step: Mapping, path: str, where: str, reference: str) -> None:
    if path.startswith("PropertyFiles."):
        declared = {item.get("PropertyFileName") for item in step.get("PropertyFiles", [])}
        if path.split(".", 1)[1] not in declared:
            raise RequestError(f"{where}: Get {reference!r}: step {step['Name']} declares no such property file")
        return
    kind = step.get("Type")
    if kind not in STEP_OPERATIONS:
        raise RequestError(f"{where}: Get {reference!r}: a {kind} step has no properties")
    shape = service_model().operation_model(STEP_OPERATIONS[kind][2]).output_shape
    for token in re.findall(r"[^.\[\]]+|\[[^\]]*\]", path):
        if token.startswith("["):
            if shape.type_name not in ("list", "map"):
                raise RequestError(f"{where}: Get {reference!r}: {token} indexes a {shape.type_name}")
            shape = shape.member if shape.type_name == "list" else shape.value
        elif shape.type_name == "structure" and token in shape.members:
            shape = shape.members[token]
        else:
            raise RequestError(
                f"{where}: Get {reference!r}: {token!r} is not in {STEP_OPERATIONS[kind][2]}'s response"
            )


def _check_property_file(item: Mapping, kind: str, arguments: Mapping, where: str) -> None:
    if kind != "Processing":
        raise RequestError(f"{where}: only Processing steps have PropertyFiles")
    outputs = {o.get("OutputName") for o in arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])}
    if not item.get("PropertyFileName") or not item.get("FilePath"):
        raise RequestError(f"{where}: a property file needs PropertyFileName and FilePath")
    if item.get("OutputName") not in outputs:
        raise RequestError(
            f"{where}: property file {item.get('PropertyFileName')} reads output {item.get('OutputName')!r}, "
            f"which the step does not have ({', '.join(sorted(map(str, outputs)))})"
        )


def _check_acyclic(edges: Mapping[str, set[str]]) -> None:
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            cycle = trail[trail.index(name):] + [name]
            raise RequestError(f"pipeline steps depend on each other in a cycle: {' -> '.join(cycle)}")
        state[name] = "open"
        for other in sorted(edges.get(name, ())):
            visit(other, [*trail, name])
        state[name] = "done"

    for name in sorted(edges):
        visit(name, [])
