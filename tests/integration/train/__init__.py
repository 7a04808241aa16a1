"""Integration tests: `train` as a real process on SageMaker-shaped trees."""
