"""What mpirun starts on every slot for a user's program: this host's SM_* environment, then exec the program.

Recomputed on each host from its own /opt/ml (so SM_CURRENT_HOST names the rank's host, not the master's as the
DLC toolkit's forwarded environment does); exec keeps the PID mpirun watches.
"""

from __future__ import annotations

import os

from train_container.script import code, program
from train_container.script import job as script_job
from train_container.script.toolkit_env import program_env, user_args


def main() -> None:
    job = script_job.load()
    code_dir = code.location(job)
    command = program.program_command(program.program_kind(code_dir, job.program), job.program, user_args(job))
    env = program_env(job, code_dir)
    os.chdir(code_dir)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main()
