"""Every test in this session talks to its own platform instance: own state dir and ports
(offset 10000), so `make test` can run beside a running demo. Set before any settings load."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("CP_HOME", str(REPO / ".platform-test"))
os.environ.setdefault("CP_PORT_OFFSET", "10000")
