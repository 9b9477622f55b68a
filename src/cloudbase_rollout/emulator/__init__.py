"""The emulator of the endpoints (a fleet's environments, services and their versions as state), beside the front ends.

`Emulator` and `State` are what users' offline workflow tests start (`State.seed_fleet` for many
environments); `python -m cloudbase_rollout.emulator` (or `cloudbase-rollout emulator`) serves it
from a shell.
"""

from cloudbase_rollout.emulator.server import Emulator as Emulator
from cloudbase_rollout.emulator.state import State as State
