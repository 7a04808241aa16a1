"""Distributed training: pure builders (mpirun command, TF_CONFIG, PS cluster), host coordination, sshd, mpirun.

Nothing here reads the environment: everything arrives through `train_container.contract` settings.
"""
