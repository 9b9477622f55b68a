#!/usr/bin/env python3
"""Docker entrypoint of the GitHub Action: a thin shim over cloudbase_rollout.action."""

import sys

from cloudbase_rollout.action import main

if __name__ == "__main__":
    sys.exit(main())
