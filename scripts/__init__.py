"""Command-line tools: data preparation, build and push, SageMaker launchers, evaluation."""
