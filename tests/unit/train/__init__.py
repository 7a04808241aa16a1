"""Unit tests for train_container and scripts/prepare_data.py."""
