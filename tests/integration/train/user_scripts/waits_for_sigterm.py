"""Says it is ready, then waits; on SIGTERM writes a marker (proof the signal reached it) and exits 143."""

import os
import signal
import sys
import time


def on_term(signum, frame):
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "sigterm"), "w") as f:
        f.write(str(os.getpid()))
    sys.exit(143)


signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
for _ in range(600):
    time.sleep(0.1)
sys.exit(3)
