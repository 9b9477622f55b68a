"""`python -m cloudbase_rollout` runs the CLI."""

from cloudbase_rollout.cli import main

raise SystemExit(main())
