import sys

from cloudbase_rollout.emulator.server import main

sys.exit(main(sys.argv[1:]))
