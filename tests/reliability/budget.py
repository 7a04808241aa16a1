"""How hard the reliability tier pushes: bounded for CI (`make test`), long with BYOC_SOAK=1 (`make soak`)."""

from __future__ import annotations

import os

SOAK = os.environ.get("BYOC_SOAK", "").strip() in ("1", "true", "yes")
MODE = "soak" if SOAK else "ci"

FUZZ_CASES_PER_TYPE = 10_000 if SOAK else 1_000
HTTP_FUZZ_CASES_PER_TYPE = 1_000 if SOAK else 60
LOAD_CLIENTS = 50
LOAD_SECONDS = 60 if SOAK else 20
BATCH_MAX_PAYLOAD_MB = 20 if SOAK else 6
