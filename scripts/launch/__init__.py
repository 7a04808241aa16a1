"""SageMaker launchers: train, tune, deploy, predict, transform, cleanup (`python -m scripts.launch -h`)."""
