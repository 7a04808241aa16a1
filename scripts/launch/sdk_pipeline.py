"""Our pipeline definition (pipeline.py's JSON) as the SageMaker SDK v3's own pipeline objects (sagemaker-mlops),
and `launch pipeline --local`: that pipeline executed by the SDK's local pipeline mode (LocalPipelineSession ->
LocalPipelineExecutor), each job on the SDK's local engine, our images on this machine's Docker.

The SDK's executor runs Step objects, not JSON: it evaluates the pipeline variables in each step's `arguments`
(Parameter, ExecutionVariable, Properties of an earlier step's Describe answer, Join, JsonGet on a property
file) and dispatches on `step_type`. So every function of the definition becomes that SDK variable, each job step
becomes a `DefinitionStep` (the SDK's Step with our Arguments and Type), the Condition and Fail steps become the
SDK's own ConditionStep and FailStep. `Pipeline.definition()` of the result is our definition again
(tests/container/sdk_local/adapter_checks.py checks it). Imports sagemaker-mlops: not installable next to the
serving stack's gunicorn pin (README), so cli.py imports this module only for `--local`.

What local mode changes: each job step's Arguments go through `local_mode.local_form` (instance type `local`,
FullyReplicated, a TFRecord transform unsplit), and RegisterModel is left out (the SDK's local executor runs
Training, Processing, Transform, Model, Condition and Fail steps only, and refuses a pipeline holding any other
type): it is reported, not sent, when its branch is taken.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sagemaker.core.workflow.conditions import (
    ConditionEquals,
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
)
from sagemaker.core.workflow.execution_variables import ExecutionVariable
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import (
    Parameter,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    ParameterTypeEnum,
)
from sagemaker.core.workflow.properties import Properties, PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.pipeline_experiment_config import PipelineExperimentConfig
from sagemaker.mlops.workflow.steps import Step, StepTypeEnum

from scripts.config import ConfigError
from scripts.launch import local_mode

CONDITIONS = {
    "Equals": ConditionEquals, "GreaterThan": ConditionGreaterThan,
    "GreaterThanOrEqualTo": ConditionGreaterThanOrEqualTo, "LessThan": ConditionLessThan,
    "LessThanOrEqualTo": ConditionLessThanOrEqualTo,
}  # fmt: skip
# By type name: ParameterTypeEnum("Float") is String (its DefaultEnumMeta returns the default for any value).
PARAMETERS = {"String": ParameterString, "Integer": ParameterInteger, "Float": ParameterFloat,
              "Boolean": ParameterBoolean}  # fmt: skip
# The step types sagemaker-mlops' LocalPipelineExecutor runs (_LocalPipelineExecution._initialize_step_execution).
LOCAL_STEP_TYPES = ("Training", "Processing", "Transform", "Model", "Condition", "Fail")
_PROPERTY_FILES = ".PropertyFiles."


class DefinitionStep(Step):
    """A step of our definition as the SDK's Step: its Type, its Arguments holding SDK pipeline variables, and
    (Processing) its property files; `to_request()` is the step's JSON again."""

    def __init__(self, name: str, step_type: str, arguments: dict, property_files: Iterable[PropertyFile] = ()):
        super().__init__(name, step_type=StepTypeEnum(step_type))
        self._arguments = arguments
        self.property_files = list(property_files)

    @property
    def arguments(self) -> dict:
        return self._arguments

    @property
    def properties(self) -> Properties:
        return Properties(step_name=self.name)

    def to_request(self) -> dict:
        request = super().to_request()
        if self.property_files:
            request["PropertyFiles"] = [item.expr for item in self.property_files]
        return request


@dataclass(frozen=True)
class LeftOut:
    """A step local mode cannot run, and the branch of which Condition step would have run it."""

    step: Mapping
    condition: str
    outcome: bool


class _Converter:
    def __init__(self, definition: Mapping):
        self.parameters = {}
        for item in definition.get("Parameters", []):
            kind = item.get("Type", "String")
            default = item.get("DefaultValue")
            if default is not None and kind == "Float":
                default = float(default)  # JSON's 1 is a valid Float default; the SDK checks isinstance(float)
            self.parameters[item["Name"]] = PARAMETERS[kind](name=item["Name"], default_value=default)

    def value(self, expression):
        """A definition value with each function replaced by its SDK pipeline variable."""
        if isinstance(expression, list):
            return [self.value(item) for item in expression]
        if not isinstance(expression, Mapping):
            return expression
        if len(expression) == 1 and "Get" in expression:
            return self._get(expression["Get"])
        if len(expression) == 1 and "Std:Join" in expression:
            body = expression["Std:Join"]
            return Join(on=body["On"], values=[self.value(item) for item in body["Values"]])
        if len(expression) == 1 and "Std:JsonGet" in expression:
            body = expression["Std:JsonGet"]
            reference = body.get("PropertyFile", {}).get("Get", "")
            step, found, name = reference.removeprefix("Steps.").partition(_PROPERTY_FILES)
            if not (reference.startswith("Steps.") and found):
                raise ConfigError(f"Std:JsonGet {body!r}: only a step's property file is supported")
            return JsonGet(step_name=step, property_file=name, json_path=body["Path"])
        return {key: self.value(item) for key, item in expression.items()}

    def _get(self, reference: str):
        head, _, rest = reference.partition(".")
        if head == "Parameters":
            return self.parameters[rest]
        if head == "Execution":
            return ExecutionVariable(rest)
        if head == "Steps":
            step, _, path = rest.partition(".")
            return Properties(step_name=step, path=path or None)
        raise ConfigError(f"Get {reference!r}: not a parameter, execution variable or step property")

    def condition(self, condition: Mapping):
        kind = CONDITIONS.get(condition["Type"])
        if kind is None:
            raise ConfigError(f"condition {condition['Type']}: not one of {', '.join(CONDITIONS)}")
        return kind(left=self.value(condition["LeftValue"]), right=self.value(condition["RightValue"]))


def sdk_steps(
    definition: Mapping, adapt: Callable[[dict], dict] = lambda arguments: arguments, leave_out: Iterable[str] = ()
) -> tuple[list[Step], list[LeftOut], dict[str, Parameter]]:
    """The definition's steps as SDK steps, each job step's Arguments through `adapt` first (local_form), minus
    the steps whose Type is in `leave_out`; returns them, what was left out, and the SDK parameters by name."""
    convert = _Converter(definition)
    left_out: list[LeftOut] = []
    skipped = set(leave_out)

    def build(step: Mapping) -> Step:
        arguments = step.get("Arguments", {})
        if step["Type"] == "Condition":
            branches = {}
            for key, outcome in (("IfSteps", True), ("ElseSteps", False)):
                branches[key] = []
                for child in arguments.get(key, []):
                    if child["Type"] in skipped:
                        left_out.append(LeftOut(child, step["Name"], outcome))
                    else:
                        branches[key].append(build(child))
            return ConditionStep(
                name=step["Name"], conditions=[convert.condition(c) for c in arguments["Conditions"]],
                if_steps=branches["IfSteps"], else_steps=branches["ElseSteps"],
            )  # fmt: skip
        if step["Type"] == "Fail":
            return FailStep(name=step["Name"], error_message=convert.value(arguments.get("ErrorMessage", "")))
        files = [PropertyFile(name=f["PropertyFileName"], output_name=f["OutputName"], path=f["FilePath"])
                 for f in step.get("PropertyFiles", [])]  # fmt: skip
        return DefinitionStep(step["Name"], step["Type"], convert.value(adapt(arguments)), files)

    steps = [build(step) for step in definition["Steps"] if step["Type"] not in skipped]
    return steps, left_out, convert.parameters


def sdk_pipeline(definition: Mapping, name: str, session, steps: list[Step], parameters: Mapping) -> Pipeline:
    """The SDK's Pipeline of `steps` with the definition's parameters and experiment config."""
    config = definition.get("PipelineExperimentConfig")
    convert = _Converter(definition)
    experiment = None
    if config is not None:
        experiment = PipelineExperimentConfig(
            convert.value(config["ExperimentName"]), convert.value(config["TrialName"])
        )
    return Pipeline(
        name=name, parameters=list(parameters.values()), pipeline_experiment_config=experiment, steps=steps,
        sagemaker_session=session,
    )  # fmt: skip


def typed_overrides(parameters: Mapping[str, Parameter], overrides: Mapping[str, str]) -> dict:
    """`--param NAME=VALUE` as the SDK's local execution takes them: values of the parameter's Python type."""
    typed = {}
    for key, text in overrides.items():
        kind = parameters[key].parameter_type
        try:
            if kind is ParameterTypeEnum.BOOLEAN:
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                typed[key] = text.lower() == "true"
            else:
                typed[key] = kind.python_type(text)
        except ValueError:
            raise ConfigError(f"--param {key}={text}: not a {kind.value}") from None
    return typed


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_locally(
    definition: Mapping, overrides: Mapping[str, str], name: str, region: str, emit: Callable[[str], None]
) -> int:
    """Creates the pipeline on a LocalPipelineSession and starts it; the SDK's executor runs every step to the end
    (or the first failure). Reports each step as the SDK's execution lists it; 0 if the execution Succeeded."""
    import boto3
    from sagemaker.mlops.local import LocalPipelineSession

    steps, left_out, parameters = sdk_steps(definition, local_mode.local_form, leave_out=_not_local(definition))
    typed = typed_overrides(parameters, overrides)
    session = LocalPipelineSession(boto_session=boto3.Session(region_name=region))
    pipeline = sdk_pipeline(definition, name, session, steps, parameters)
    # LocalPipelineSession's own create/start (its docstring's usage): Pipeline.create() would resolve the role
    # through IAM first, and in local mode calls create_pipeline on the session's LocalSagemakerClient, which has none.
    session.create_pipeline(pipeline, "BYOC TensorFlow (local)")
    local_mode.wait_for_serving_port()  # the transform serves on the SDK's fixed local port
    with _sdk_progress(emit):
        execution = session.start_pipeline_execution(PipelineName=name, PipelineParameters=typed or None)
    local_mode.wait_for_serving_port()  # its container is on its way out: the next local run may serve
    described = execution.describe()
    emit(f"local execution {described['PipelineExecutionArn']} of pipeline {name} (SageMaker SDK local pipeline mode)")
    listed = sorted(execution.list_steps()["PipelineExecutionSteps"], key=lambda s: s.get("StartTime", 0))
    outcomes = {}
    for step in listed:
        outcome = step.get("Metadata", {}).get("Condition", {}).get("Outcome")
        if outcome is not None:
            outcomes[step["StepName"]] = outcome
        detail = f" (Outcome {outcome})" if outcome is not None else ""
        if step.get("FailureReason"):
            detail = f": {_one_line(step['FailureReason'])}"
        emit(f"step {step['StepName']}: {step['StepStatus']}{detail}")
    for item in left_out:
        if outcomes.get(item.condition) == item.outcome:
            emit(f"step {item.step['Name']}: not run ({item.step['Type']} is not supported in local mode): "
                 f"{_describe_left_out(item.step)}")  # fmt: skip
    status = described["PipelineExecutionStatus"]
    if status != "Succeeded":
        reason = _one_line(described.get("FailureReason", "no failure reason given"))
        print(f"launch pipeline: local execution {status}: {reason}", file=sys.stderr)
        return 1
    emit(f"local execution {status}")
    return 0


class _Progress(logging.Handler):
    def __init__(self, emit: Callable[[str], None]):
        super().__init__(logging.INFO)
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        self._emit(f"sdk: {record.getMessage()}")


@contextlib.contextmanager
def _sdk_progress(emit: Callable[[str], None]):
    """The executor logs each step it starts and ends (sagemaker.mlops.local.*, INFO): the run's progress, shown."""
    logger = logging.getLogger("sagemaker.mlops.local")
    handler, level, propagate = _Progress(emit), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the SDK's root handler would print each line again, on stderr
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _not_local(definition: Mapping) -> set[str]:
    types = set()
    todo = list(definition["Steps"])
    while todo:
        step = todo.pop()
        types.add(step["Type"])
        todo += step.get("Arguments", {}).get("IfSteps", []) + step.get("Arguments", {}).get("ElseSteps", [])
    return types - set(LOCAL_STEP_TYPES)


def _describe_left_out(step: Mapping) -> str:
    arguments = step.get("Arguments", {})
    if step["Type"] == "RegisterModel":
        return f"would register a model package in {arguments.get('ModelPackageGroupName')}"
    return "skipped"
