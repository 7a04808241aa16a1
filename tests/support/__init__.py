"""Shared test helpers: tiny real SavedModels (models.py) and real-process runners (processes.py).

Nothing here imports TensorFlow at import time; models.py does so only when one of its functions runs.
"""
