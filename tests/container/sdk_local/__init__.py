"""Drive the product images through the SageMaker Python SDK's own local mode (see test_sdk_local_mode.py)."""
