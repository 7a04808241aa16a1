"""`launch pipeline --local`: execute our pipeline definition on this machine, step by step, through the SDK's
local engine (local_mode), so a user runs prepare -> train -> transform -> evaluate -> condition before paying.

The SDK's own local pipeline mode (sagemaker-mlops' LocalPipelineSession) runs SDK step objects, not a JSON
definition, so this small executor reads the definition SageMaker would read: it evaluates the functions
(`Get` of parameters, execution variables and earlier steps' Describe answers, `Std:Join`, `Std:JsonGet` on a
property file), runs each job step's Arguments as that job locally, and follows the Condition step's branch.
What differs from SageMaker: steps run one after another; each job differs as `local_mode.local_form` says
(a TFRecord transform runs unsplit); RegisterModel is reported, not sent (the Model Registry lives in AWS).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from scripts.config import ConfigError
from scripts.launch import local_mode
from scripts.launch.validation import FUNCTIONS

COMPARE = {
    "GreaterThan": lambda a, b: a > b, "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b, "LessThanOrEqualTo": lambda a, b: a <= b,
    "Equals": lambda a, b: a == b, "NotEquals": lambda a, b: a != b,
}  # fmt: skip
_CASTS = {"String": str, "Integer": int, "Float": float, "Boolean": lambda v: str(v).lower() == "true"}
_NAME_KEYS = ("OutputName", "InputName", "ChannelName", "PropertyFileName", "VariantName")


class StepFailed(Exception):
    """A Fail step was reached, or a step's job failed; the message is one line."""


class _Execution:
    def __init__(self, definition: Mapping, overrides: Mapping[str, str], name: str, region: str, emit):
        self.definition, self.region, self.emit = definition, region, emit
        self.id = uuid.uuid4().hex[:12]
        self.parameters = {}
        for item in definition.get("Parameters", []):
            cast = _CASTS[item.get("Type", "String")]
            value = overrides.get(item["Name"], item.get("DefaultValue"))
            self.parameters[item["Name"]] = None if value is None else cast(value)
        self.variables = {"PipelineExecutionId": self.id, "PipelineName": name, "PipelineExecutionArn": self.id,
                          "PipelineArn": name}  # fmt: skip
        self.steps: dict[str, dict] = {}  # name -> its Describe answer (plus "PropertyFiles")
        self.registered: list[dict] = []

    def value(self, expression):
        if isinstance(expression, list):
            return [self.value(item) for item in expression]
        if isinstance(expression, Mapping) and len(expression) == 1 and next(iter(expression)) in FUNCTIONS:
            (function, body), = expression.items()
            if function == "Std:Join":
                return body["On"].join(str(self.value(v)) for v in body["Values"])
            if function == "Std:JsonGet":
                document = self.value(body["PropertyFile"])
                for key in body["Path"].split("."):
                    document = document[key]
                return document
            return self._get(body)
        if isinstance(expression, Mapping):
            return {key: self.value(item) for key, item in expression.items()}
        return expression

    def _get(self, reference: str):
        head, _, rest = reference.partition(".")
        if head == "Parameters":
            return self.parameters[rest]
        if head == "Execution":
            return self.variables[rest]
        step, _, path = rest.partition(".")
        value = self.steps[step]
        for token in re.findall(r"[^.\[\]]+|\[[^\]]*\]", path):
            if token.startswith("["):
                key = token[1:-1].strip("'\"")
                value = value[int(key)] if key.isdigit() else next(
                    item for item in value if any(item.get(k) == key for k in _NAME_KEYS)
                )
            else:
                value = value[token]
        return value

    def run(self, steps: list) -> None:
        for step in steps:
            self.emit(f"step {step['Name']} ({step['Type']})")
            getattr(self, f"_{step['Type'].lower()}")(step, self.value(step.get("Arguments", {})))

    def _job_name(self, step: Mapping) -> str:
        return f"{step['Name'].lower()}-{self.id}"

    def _processing(self, step: Mapping, arguments: dict) -> None:
        request = {"ProcessingJobName": self._job_name(step), **arguments}
        description = local_mode.run("CreateProcessingJob", request, self.region)
        files = {}
        outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in arguments["ProcessingOutputConfig"]["Outputs"]}
        for item in step.get("PropertyFiles", []):
            folder = _local_folder(outputs[item["OutputName"]])
            files[item["PropertyFileName"]] = json.loads((folder / item["FilePath"]).read_text())
        self.steps[step["Name"]] = {**description, "PropertyFiles": files}

    def _training(self, step: Mapping, arguments: dict) -> None:
        request = {"TrainingJobName": self._job_name(step), **arguments}
        self.steps[step["Name"]] = local_mode.run("CreateTrainingJob", request, self.region)

    def _model(self, step: Mapping, arguments: dict) -> None:
        request = {"ModelName": self._job_name(step), **arguments}
        self.steps[step["Name"]] = local_mode.create_model(request, self.region)

    def _transform(self, step: Mapping, arguments: dict) -> None:
        request = {"TransformJobName": self._job_name(step), **arguments}
        self.steps[step["Name"]] = local_mode.run("CreateTransformJob", request, self.region)

    def _condition(self, step: Mapping, arguments: dict) -> None:
        results = []
        for condition in arguments["Conditions"]:
            left, right = condition["LeftValue"], condition["RightValue"]
            results.append(COMPARE[condition["Type"]](left, right))
            self.emit(f"  {left!r} {condition['Type']} {right!r}: {results[-1]}")
        raw = next(s for s in _all(self.definition["Steps"]) if s["Name"] == step["Name"])["Arguments"]
        self.run(raw.get("IfSteps", []) if all(results) else raw.get("ElseSteps", []))

    def _registermodel(self, step: Mapping, arguments: dict) -> None:
        self.registered.append(arguments)
        self.emit(f"  not sent (local): model package in {arguments['ModelPackageGroupName']} for "
                  f"{arguments['InferenceSpecification']['Containers'][0]['ModelDataUrl']}")  # fmt: skip

    def _fail(self, step: Mapping, arguments: dict) -> None:
        raise StepFailed(f"step {step['Name']}: {arguments.get('ErrorMessage', 'failed')}")


def _all(steps: list):
    for step in steps:
        yield step
        yield from _all(step.get("Arguments", {}).get("IfSteps", []) + step.get("Arguments", {}).get("ElseSteps", []))


def _local_folder(uri: str) -> Path:
    if not uri.startswith(local_mode.SCHEME):
        raise ConfigError(f"--local reads property files from file:// outputs, not {uri}")
    return Path(uri.removeprefix(local_mode.SCHEME))


def run(
    definition: Mapping, overrides: Mapping[str, str], name: str, region: str, emit: Callable[[str], None]
) -> _Execution:
    """Runs every step; raises StepFailed at a Fail step. Returns the execution (its steps' answers)."""
    execution = _Execution(definition, overrides, name, region, emit)
    emit(f"local execution {execution.id} of pipeline {name}")
    execution.run(list(definition["Steps"]))
    return execution
