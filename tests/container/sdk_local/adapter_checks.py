"""Runs INSIDE the SDK venv (pytest there, from test_sdk_local_mode.py): scripts/launch/sdk_pipeline.py against
the real sagemaker-mlops. Not named test_*.py: the host venv, which cannot hold sagemaker-mlops, never collects it.

The adapter is faithful if the SDK's own `Pipeline.definition()` of the adapted steps is our definition again, and
the local pipeline differs from it exactly as local mode says (local_form, RegisterModel left out). The small
pipelines below run through the SDK's LocalPipelineExecutor itself (no jobs, so no Docker): parameters, overrides,
execution variables, Join and the Condition's branch are evaluated by the SDK, not by us.
"""

from __future__ import annotations

import copy
import json

import pytest
from sagemaker.mlops.local import LocalPipelineSession

from scripts.config import ConfigError
from scripts.launch import local_mode, pipeline, sdk_pipeline
from scripts.launch.validation import check_pipeline_definition

REGION = "us-west-2"
SPEC = pipeline.PipelineSpec(
    workspace="s3://byoc-runs/pipeline", raw_input="s3://byoc-raw/digits",
    train_image="123456789012.dkr.ecr.us-west-2.amazonaws.com/byoc-tensorflow-training:1",
    serve_image="123456789012.dkr.ecr.us-west-2.amazonaws.com/byoc-tensorflow-serving:1",
    role_arn="arn:aws:iam::123456789012:role/byoc", model_package_group="byoc-digits",
    hyperparameters={"epochs": "3"},
)  # fmt: skip


@pytest.fixture(scope="module")
def definition() -> dict:
    return check_pipeline_definition(pipeline.definition(SPEC))


def _session() -> LocalPipelineSession:
    import boto3

    return LocalPipelineSession(boto_session=boto3.Session(region_name=REGION))


def _sdk_definition(definition: dict, **options) -> tuple[dict, list]:
    steps, left_out, parameters = sdk_pipeline.sdk_steps(definition, **options)
    built = sdk_pipeline.sdk_pipeline(definition, "byoc", _session(), steps, parameters)
    return json.loads(built.definition()), left_out


def test_the_sdk_definition_of_the_adapted_steps_is_ours(definition):
    sdk, left_out = _sdk_definition(definition)
    assert left_out == []
    # The SDK always writes MlflowConfig (null without an mlflow_config); everything else is ours, value for value.
    assert sdk == {**definition, "MlflowConfig": None}


def test_the_local_pipeline_is_ours_through_local_form_without_register_model(definition):
    sdk, left_out = _sdk_definition(definition, adapt=local_mode.local_form, leave_out={"RegisterModel"})
    expected = copy.deepcopy(definition)
    for step in expected["Steps"]:
        if step["Type"] == "Condition":
            register = step["Arguments"]["IfSteps"].pop()
            assert register["Type"] == "RegisterModel"
        else:
            step["Arguments"] = local_mode.local_form(step["Arguments"])
    assert sdk == {**expected, "MlflowConfig": None}
    assert [(item.step, item.condition, item.outcome) for item in left_out] == [
        (register, pipeline.CHECK, True)
    ]
    # What local_form changed is what local mode needs, and only that: the instance types were parameters.
    train = next(s for s in sdk["Steps"] if s["Name"] == pipeline.TRAIN)["Arguments"]
    assert train["ResourceConfig"] == {**definition["Steps"][1]["Arguments"]["ResourceConfig"], "InstanceType": "local"}
    transform = next(s for s in sdk["Steps"] if s["Name"] == pipeline.TRANSFORM)["Arguments"]
    assert transform["TransformInput"]["SplitType"] == "None"


def test_the_steps_reach_the_executor_as_sdk_pipeline_variables(definition):
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import Parameter
    from sagemaker.core.workflow.properties import Properties

    steps, _, parameters = sdk_pipeline.sdk_steps(definition)
    by_name = {step.name: step for step in steps}
    train = by_name[pipeline.TRAIN].arguments
    assert train["ResourceConfig"]["InstanceCount"] is parameters["TrainingInstanceCount"]
    assert isinstance(parameters["TrainingInstanceCount"], Parameter)
    channel = train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert isinstance(channel, Join) and isinstance(channel.values[0], Properties)
    assert channel.values[0].step_name == pipeline.PREPARE
    [condition] = by_name[pipeline.CHECK].conditions
    assert isinstance(condition.left, JsonGet) and condition.left.step_name == pipeline.EVALUATE
    assert [f.expr for f in by_name[pipeline.EVALUATE].property_files] == definition["Steps"][4]["PropertyFiles"]


def _check_only(threshold: float) -> dict:
    """Condition on a parameter, a Fail step on each branch: the SDK's executor alone, no job."""
    below = pipeline.join("below", pipeline.parameter("T"), "in", pipeline.EXECUTION_ID, on=" ")
    return {
        "Version": pipeline.VERSION, "Metadata": {},
        "Parameters": [{"Name": "T", "Type": "Float", "DefaultValue": threshold}],
        "Steps": [{"Name": "Check", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": 0.9, "RightValue": pipeline.parameter("T")}],
            "IfSteps": [{"Name": "Passed", "Type": "Fail", "Arguments": {"ErrorMessage": "above"}}],
            "ElseSteps": [{"Name": "TooLow", "Type": "Fail", "Arguments": {"ErrorMessage": below}}]}}],
    }  # fmt: skip


@pytest.mark.parametrize(("threshold", "overrides", "taken"), [(0.95, {}, False), (0.95, {"T": "0.5"}, True)])
def test_the_sdk_executor_takes_the_conditions_branch(threshold, overrides, taken, capsys):
    code = sdk_pipeline.run_locally(_check_only(threshold), overrides, "check-only", REGION, print)
    out, err = capsys.readouterr()
    assert code == 1  # both branches end in a Fail step
    lines = out.splitlines()
    [header] = [line for line in lines if line.startswith("local execution ")]
    execution_id = header.split()[2]
    assert header == f"local execution {execution_id} of pipeline check-only (SageMaker SDK local pipeline mode)"
    # The SDK's executor logs every step it starts: the run was the SDK's, not ours.
    assert "sdk: Starting pipeline step: 'Check'" in lines, out
    assert f"step Check: Succeeded (Outcome {taken})" in lines, out
    # TooLow's message: the parameter's default and the SDK's execution id, joined by the SDK.
    step, message = ("Passed", "above") if taken else ("TooLow", f"below 0.95 in {execution_id}")
    assert f"step {step}: Failed: {message}" in lines, out
    failed = f"launch pipeline: local execution Failed: Step '{step}' failed with message: {message}"
    assert err.splitlines()[-1] == failed, err


def test_a_passing_branch_without_a_fail_step_succeeds(capsys):
    definition = _check_only(0.5)
    definition["Steps"][0]["Arguments"]["IfSteps"] = [
        {"Name": "Register", "Type": "RegisterModel", "Arguments": {"ModelPackageGroupName": "g"}}
    ]
    assert sdk_pipeline.run_locally(definition, {}, "check-pass", REGION, print) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "step Register: not run (RegisterModel is not supported in local mode): would register a model package " \
           "in g" in lines  # fmt: skip
    assert lines[-1] == "local execution Succeeded"


@pytest.mark.parametrize(("value", "message"), [("high", "--param T=high: not a Float")])
def test_an_override_of_the_wrong_type_is_one_line(value, message):
    with pytest.raises(ConfigError, match=message):
        sdk_pipeline.run_locally(_check_only(0.95), {"T": value}, "check-only", REGION, print)
