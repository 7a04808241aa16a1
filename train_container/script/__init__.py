"""Script mode: the job brings its own program (`sagemaker_program`), run the way the DLC's toolkit runs it.

job.py reads the job (one frozen `ScriptJob`); toolkit_env.py renders the SM_* environment and `--name value`
arguments; code.py fetches the code and installs its requirements.txt; program.py builds the command line;
runner.py starts it once, under mpirun, or with TF_CONFIG; rank.py is what mpirun starts on every slot.
"""
