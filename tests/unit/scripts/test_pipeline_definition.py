"""`launch pipeline`'s definition: its structure checked against botocore's service model, and each check failing."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from scripts import evaluate
from scripts.launch import pipeline as pl
from scripts.launch import processing
from scripts.launch.validation import RequestError, check_pipeline_definition, check_request

TRAIN = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training@sha256:" + "a" * 64
SERVE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-inference@sha256:" + "b" * 64
ROLE = "arn:aws:iam::123456789012:role/byoc"


def spec(**overrides) -> pl.PipelineSpec:
    values = dict(
        workspace="s3://byoc-pipe/runs", raw_input="s3://byoc-pipe/raw/digits", train_image=TRAIN,
        serve_image=SERVE, role_arn=ROLE, model_package_group="byoc-digits",
        hyperparameters={"distribution": "horovod", "processes_per_host": "2", "epochs": "8"},
    )  # fmt: skip
    values.update(overrides)
    return pl.PipelineSpec(**values)


def steps(definition: dict) -> dict[str, dict]:
    found = {}
    for step in definition["Steps"]:
        found[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            found.update({s["Name"]: s for s in step.get("Arguments", {}).get(branch, [])})
    return found


def test_the_definition_passes_and_chains_prepare_train_model_transform_evaluate_condition_register():
    definition = pl.definition(spec())
    assert check_pipeline_definition(definition) == definition
    by_name = steps(definition)
    assert [s["Name"] for s in definition["Steps"]] == [pl.PREPARE, pl.TRAIN, pl.MODEL, pl.TRANSFORM, pl.EVALUATE,
                                                        pl.CHECK]  # fmt: skip
    assert {s: by_name[s]["Type"] for s in (pl.REGISTER, pl.FAIL)} == {pl.REGISTER: "RegisterModel", pl.FAIL: "Fail"}
    train = by_name[pl.TRAIN]["Arguments"]
    assert train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == {"Std:Join": {"On": "/", "Values": [
        {"Get": "Steps.PrepareData.ProcessingOutputConfig.Outputs['data'].S3Output.S3Uri"}, "train"]}}  # fmt: skip
    assert train["HyperParameters"] == {"distribution": "horovod", "processes_per_host": "2", "epochs": "8"}
    assert train["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    prepare_args = by_name[pl.PREPARE]["Arguments"]["AppSpecification"]["ContainerArguments"]
    # Batch Transform sends every object under eval/ as a record, so the eval split holds no labels.txt; the
    # evaluation reads the class names from the root copy instead.
    assert prepare_args[-4:] == ["--labels-in", "train", "--labels-in", "validation"]
    evaluate_step = by_name[pl.EVALUATE]
    labels = evaluate_step["Arguments"]["ProcessingInputs"][2]
    assert labels["S3Input"]["S3Uri"]["Std:Join"]["Values"][1] == "labels.txt"
    class_names = evaluate_step["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert class_names[class_names.index("--class-names") + 1] == "/opt/ml/processing/input/labels/labels.txt"
    assert evaluate_step["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m",
                                                                                    "scripts.evaluate"]  # fmt: skip
    assert evaluate_step["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]
    [condition] = by_name[pl.CHECK]["Arguments"]["Conditions"]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["RightValue"] == {"Get": "Parameters.AccuracyThreshold"}
    register = by_name[pl.REGISTER]["Arguments"]
    assert register["InferenceSpecification"]["Containers"][0] == {
        "Image": SERVE, "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    }


def test_the_upsert_and_start_requests_pass_the_service_model():
    create, update = pl.upsert_requests("byoc-digits", pl.definition(spec()), ROLE, "digits", {"Team": "ml"})
    check_request("CreatePipeline", create)
    check_request("UpdatePipeline", update)
    check_request("StartPipelineExecution", pl.start_request("byoc-digits", {"AccuracyThreshold": "0.9"}))
    assert json.loads(create["PipelineDefinition"]) == pl.definition(spec())


def test_the_condition_reads_the_accuracy_where_evaluate_writes_it():
    report = evaluate.model_quality(evaluate.evaluate([0, 1, 1, 0], [0, 1, 0, 0], ["cat", "dog"]))
    value = report
    for key in pl.ACCURACY_PATH.split("."):
        value = value[key]
    assert value == pytest.approx(0.75)
    assert np.isclose(json.loads(json.dumps(report))["multiclass_classification_metrics"]["accuracy"]["value"], 0.75)
    assert processing.EVALUATION_FILE == "evaluation.json"


def _step(definition: dict, name: str) -> dict:
    return steps(definition)[name]


VIOLATIONS = {
    "unknown parameter": (
        lambda d: _step(d, pl.TRAIN)["Arguments"]["ResourceConfig"].update(InstanceType={"Get": "Parameters.Nope"}),
        "pipeline step Train: Get 'Parameters.Nope' names no pipeline parameter",
    ),
    "parameter of the wrong type": (
        lambda d: _step(d, pl.TRAIN)["Arguments"]["ResourceConfig"].update(
            InstanceCount={"Get": "Parameters.TrainingInstanceType"}
        ),
        "ResourceConfig.InstanceCount needs a Integer but parameter TrainingInstanceType is a String",
    ),
    "join into a number": (
        lambda d: _step(d, pl.TRAIN)["Arguments"]["ResourceConfig"].update(
            VolumeSizeInGB={"Std:Join": {"On": "", "Values": ["3", "0"]}}
        ),
        "ResourceConfig.VolumeSizeInGB is a integer; Std:Join makes a string",
    ),
    "a step that does not exist": (
        lambda d: _step(d, pl.TRANSFORM)["Arguments"].update(ModelName={"Get": "Steps.Modle.ModelName"}),
        "Get 'Steps.Modle.ModelName' names no other step",
    ),
    "a property the step's response lacks": (
        lambda d: _step(d, pl.MODEL)["Arguments"]["PrimaryContainer"].update(
            ModelDataUrl={"Get": "Steps.Train.ModelArtifacts.S3Artifacts"}
        ),
        "Get 'Steps.Train.ModelArtifacts.S3Artifacts': 'S3Artifacts' is not in DescribeTrainingJob's response",
    ),
    "an undeclared property file": (
        lambda d: _step(d, pl.CHECK)["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"].update(
            PropertyFile={"Get": "Steps.Evaluate.PropertyFiles.Report"}
        ),
        "step Evaluate declares no such property file",
    ),
    "a property file on an output the step lacks": (
        lambda d: _step(d, pl.EVALUATE)["PropertyFiles"][0].update(OutputName="metrics"),
        "property file EvaluationReport reads output 'metrics', which the step does not have (evaluation)",
    ),
    "the job's name in the arguments": (
        lambda d: _step(d, pl.TRAIN)["Arguments"].update(TrainingJobName="fixed"),
        "pipeline step Train: Arguments must not set TrainingJobName",
    ),
    "an argument the API rejects": (
        lambda d: _step(d, pl.PREPARE)["Arguments"]["ProcessingInputs"][0]["S3Input"].update(LocalPath="/data"),
        "pipeline step PrepareData: CreateProcessingJob: ProcessingInputs[0].S3Input.LocalPath '/data' must begin",
    ),
    "an enum the API rejects": (
        lambda d: _step(d, pl.TRANSFORM)["Arguments"]["TransformInput"].update(SplitType="Records"),
        "CreateTransformJob: TransformInput.SplitType 'Records' is not one of",
    ),
    "a condition type": (
        lambda d: _step(d, pl.CHECK)["Arguments"]["Conditions"][0].update(Type="AtLeast"),
        "condition Type 'AtLeast' is not one of",
    ),
    "a duplicate step name": (
        lambda d: _step(d, pl.FAIL).update(Name=pl.REGISTER), "pipeline step name RegisterModel is used twice"
    ),
    "a bad step name": (lambda d: _step(d, pl.FAIL).update(Name="too low!"), "pipeline step name 'too low!' must"),
    "an unknown step type": (lambda d: _step(d, pl.FAIL).update(Type="Lambda"), "Type 'Lambda' is not one of"),
    "a cycle": (
        lambda d: _step(d, pl.PREPARE).update(DependsOn=[pl.EVALUATE]),
        "pipeline steps depend on each other in a cycle: BatchTransform -> CreateModel -> Train -> PrepareData -> "
        "Evaluate -> BatchTransform",
    ),
    "a default of the wrong type": (
        lambda d: d["Parameters"][3].update(DefaultValue="1"),
        "pipeline parameter TrainingInstanceCount: DefaultValue '1' is not a Integer",
    ),
    "an unknown execution variable": (
        lambda d: _step(d, pl.FAIL)["Arguments"].update(ErrorMessage={"Get": "Execution.Id"}),
        "Get 'Execution.Id' is not an execution variable",
    ),
    "a version": (lambda d: d.update(Version="2021-01-01"), "Version must be '2020-12-01'"),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_each_definition_error_is_one_line(case):
    mutate, message = VIOLATIONS[case]
    definition = copy.deepcopy(pl.definition(spec()))
    mutate(definition)
    with pytest.raises(RequestError) as raised:
        check_pipeline_definition(definition)
    assert "\n" not in str(raised.value)
    assert message in str(raised.value)


def test_cifar10_reads_its_tarball_from_the_input_prefix():
    definition = pl.definition(spec(raw_input="s3://byoc-pipe/raw/cifar-10-python.tar.gz", source="cifar10"))
    check_pipeline_definition(definition)
    arguments = _step(definition, pl.PREPARE)["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--input") + 1] == "/opt/ml/processing/input/raw/cifar-10-python.tar.gz"
