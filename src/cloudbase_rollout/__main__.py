"""`python -m cloudbase_rollout` runs the CLI."""

from cloudbase_rollout.front.cli import main

raise SystemExit(main())
