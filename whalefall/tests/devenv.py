"""pytest plugin loaded before Django's settings (`-p` in pyproject): tests run as development.

DEBUG defaults to off for production; the suite (and the subprocesses it starts: runscheduler,
management commands) runs with it on, as `scripts/run` does, unless the environment says otherwise.
"""

import os

os.environ.setdefault("DEBUG", "true")
