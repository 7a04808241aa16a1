"""A parameter-server script whose worker task fails while the master's keeps training (here: waits up to 5 min)."""

import json
import os
import time

task = json.loads(os.environ["TF_CONFIG"])["task"]
if task["type"] == "worker":
    time.sleep(2)  # the master's program is running by now
    raise ValueError("worker shard is empty")
print("master training", flush=True)
time.sleep(300)
