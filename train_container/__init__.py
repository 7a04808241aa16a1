"""Training container: the SageMaker /opt/ml contract, TFRecord input, strategies, export."""
