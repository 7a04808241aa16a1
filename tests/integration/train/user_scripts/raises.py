"""A script that fails the way user scripts do: a bad hyperparameter value raises deep in its own code."""

import argparse


def check_learning_rate(value):
    if value <= 0:
        raise ValueError(f"learning rate must be positive, got {value}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning-rate", type=float, default=0.1)
    args, _ = parser.parse_known_args()
    print("starting", flush=True)
    check_learning_rate(args.learning_rate)


if __name__ == "__main__":
    main()
