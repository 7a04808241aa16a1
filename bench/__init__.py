"""Benchmarks that print ratios (ours vs the bare TensorFlow / TF Serving reference), never timed tests.

`python -m bench` runs every benchmark in its own child process, writes bench/RESULTS.md and prints it.
BENCH_QUICK=1 runs each at a tiny size (CI smoke: the code paths cannot rot; the numbers mean nothing).
"""
