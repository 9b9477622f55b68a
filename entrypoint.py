#!/usr/bin/env python3
"""Docker entrypoint of the GitHub Action: a thin shim over cloudbase_rollout.action.

In the image the package is installed; from a source checkout (python entrypoint.py)
the package is found in ./src.
"""

import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parent / "src"
if (_SRC / "cloudbase_rollout").is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from cloudbase_rollout.action import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
