#!/usr/bin/env python3
"""Docker entrypoint of the GitHub Action: a thin shim over cloudbase_rollout.action.

In the image the package is installed; from a source checkout (python entrypoint.py)
the package is found in ./src.
"""

import gc
import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parent / "src"
if (_SRC / "cloudbase_rollout").is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

# A short-lived process: no cyclic GC passes while importing, and the import-time
# objects (which live until exit anyway) frozen out of every later pass, including
# the one at interpreter shutdown. Saves ~20 ms of a ~100 ms step (docs/performance.md).
gc.disable()
from cloudbase_rollout.front.action import main  # noqa: E402

gc.freeze()
gc.enable()

if __name__ == "__main__":
    sys.exit(main())
