"""P2d: training steps/s with `deterministic=true` (TF's deterministic kernels) vs the default, same job.

TF cannot turn op determinism off again in a process, so every sample is a process of its own
(`python -m bench.determinism --sample on|off`), on and off alternating round by round. Each runs P2c's job
with augmentation on, as `train` runs by default: the reader with cache=auto, one full pass to fill the cache,
then steps/s timed as P2 times them (train_input.steps_per_second), the median of two fits.
"""

from __future__ import annotations

import math
import subprocess
import sys

from bench import fixtures
from bench.child import run_child
from bench.config import BenchConfig, load
from bench.results import Row
from bench.stats import interleave, median, paired_ratio
from bench.train_input import SKIP_STEPS, compiled_model, steps_per_second

SAMPLE_FLAG = "--sample"
FITS_PER_SAMPLE = 2


def sample(config: BenchConfig, deterministic: bool) -> float:
    import tensorflow as tf
    import tf_keras

    from train_container.data import list_records, make_dataset
    from train_container.horovod_compat import skip_autograph_for_tf_keras
    from train_container.runtimes import select_runtime
    from train_container.train_loop import seed_ops

    sizes = config.sizes
    skip_autograph_for_tf_keras()
    settings = fixtures.training_settings(
        config, augment=True, cache="auto", batch_size=sizes.batch_size, distribution="single", seed=0,
        deterministic=deterministic, steps_per_epoch=sizes.train_steps + SKIP_STEPS,
    )  # fmt: skip
    seed_ops(settings.hyperparameters)
    runtime = select_runtime(settings)
    channel = settings.channel("train")
    model = compiled_model(settings, runtime)
    reader = make_dataset(settings, runtime, channel, training=True)
    records = sum(1 for _ in tf.data.TFRecordDataset([str(path) for path in list_records(channel).paths]))
    model.fit(reader, epochs=1, steps_per_epoch=math.ceil(records / sizes.batch_size) + 1, verbose=0)
    callback = tf_keras.callbacks.Callback
    return median([steps_per_second(model, reader, sizes.train_steps, callback) for _ in range(FITS_PER_SAMPLE)])


def sample_in_child(deterministic: bool) -> float:
    """One sample in a fresh process; it inherits this one's environment (BENCH_* and PYTHONPATH from bench.run)."""
    args = [sys.executable, "-m", "bench.determinism", SAMPLE_FLAG, "on" if deterministic else "off"]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[2:])} failed ({done.returncode}): {done.stderr[-1500:]}")
    return float(done.stdout.split()[-1])


def measure(config: BenchConfig) -> list[Row]:
    samples = interleave(
        {"ours": lambda: sample_in_child(True), "reference": lambda: sample_in_child(False)},
        rounds=config.sizes.determinism_rounds,
        warmup=0,  # every sample is a cold process that warms itself up
    )
    note = (
        f"cifar10 CNN, batch {config.sizes.batch_size}, augmentation on, cache=auto filled by one pass; each "
        f"sample a fresh process (median of {FITS_PER_SAMPLE} fits of {config.sizes.train_steps} timed steps), "
        f"{config.sizes.determinism_rounds} rounds alternating which goes first"
    )
    return [
        Row(id="P2d", what="training steps/s, deterministic=true (TF's deterministic kernels) vs the default",
            unit="steps/s", ours=median(samples["ours"]), reference=median(samples["reference"]),
            paired_ratio=paired_ratio(samples), note=note),
    ]  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == SAMPLE_FLAG and sys.argv[2] in ("on", "off"):
        print(f"{sample(load(), sys.argv[2] == 'on'):.6f}")
        sys.exit(0)
    sys.exit(run_child(measure))
