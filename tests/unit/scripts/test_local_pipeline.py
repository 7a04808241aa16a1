"""The local pipeline executor's own logic: functions evaluated as SageMaker does, and the Condition's branch."""

from __future__ import annotations

import pytest

from scripts.launch import local_pipeline as lp
from scripts.launch import pipeline as pl


def definition(threshold: float) -> dict:
    message = pl.join("below", pl.parameter("T"), on=" ")
    fail = {"Name": "TooLow", "Type": "Fail", "Arguments": {"ErrorMessage": message}}
    passed = {"Name": "Passed", "Type": "Fail", "Arguments": {"ErrorMessage": "above"}}
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "T", "Type": "Float", "DefaultValue": threshold}],
        "Steps": [{"Name": "Check", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": 0.9, "RightValue": pl.parameter("T")}],
            "IfSteps": [passed], "ElseSteps": [fail]}}],
    }  # fmt: skip


@pytest.mark.parametrize(("threshold", "message"), [(0.95, "step TooLow: below 0.95"), (0.5, "step Passed: above")])
def test_the_condition_follows_its_branch(threshold, message):
    lines = []
    with pytest.raises(lp.StepFailed, match=message):
        lp.run(definition(threshold), {}, "p", "us-east-1", lines.append)
    assert lines[1:3] == ["step Check (Condition)", f"  0.9 GreaterThanOrEqualTo {threshold}: {threshold <= 0.9}"]


def test_an_override_is_cast_to_the_parameter_type():
    with pytest.raises(lp.StepFailed, match="step Passed"):
        lp.run(definition(0.95), {"T": "0.1"}, "p", "us-east-1", lambda line: None)


def test_functions_read_parameters_execution_and_earlier_steps():
    execution = lp._Execution({"Parameters": [{"Name": "N", "Type": "Integer", "DefaultValue": 2}]}, {}, "p",
                              "us-east-1", print)  # fmt: skip
    execution.steps["Prep"] = {
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "data", "S3Output": {"S3Uri": "file:///d"}}]},
        "PropertyFiles": {"Report": {"a": {"b": 0.75}}},
    }
    output = pl.get("Steps.Prep.ProcessingOutputConfig.Outputs['data'].S3Output.S3Uri")
    assert execution.value(pl.join(output, "train")) == "file:///d/train"
    assert execution.value({"Std:JsonGet": {"PropertyFile": pl.get("Steps.Prep.PropertyFiles.Report"),
                                            "Path": "a.b"}}) == 0.75  # fmt: skip
    assert execution.value({"X": [pl.parameter("N"), pl.get("Execution.PipelineExecutionId")]}) == {
        "X": [2, execution.id]
    }
