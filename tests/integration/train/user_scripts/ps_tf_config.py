"""A parameter-server script: records its TF_CONFIG and checks that every ps task in it is serving."""

import json
import os
import socket
import time

config = json.loads(os.environ["TF_CONFIG"])
reachable = {}
for address in config["cluster"].get("ps", []):
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            reachable[address] = True
            break
        except OSError:
            if time.monotonic() > deadline:
                reachable[address] = False
                break
            time.sleep(1)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.json"), "w") as f:
    json.dump({"tf_config": config, "ps_reachable": reachable}, f)
