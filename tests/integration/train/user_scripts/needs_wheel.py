"""Imports a package that only requirements.txt (a wheel shipped in the source dir) provides."""

import json
import os

import byoc_testdep

with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.json"), "w") as f:
    json.dump({"value": byoc_testdep.VALUE, "file": byoc_testdep.__file__}, f)
