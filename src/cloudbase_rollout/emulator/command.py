"""`cloudbase-rollout emulator`: the emulator's flags, and serving until interrupted.

Every control of /_emulator/* has a flag here, so a workflow test can start the emulator
already seeded and faulty in one line. The default token is printed at start-up and in --help:
the emulator's token is a fixture, not a secret; a token given with --token is never printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cloudbase_rollout import API_PATH
from cloudbase_rollout.emulator import server
from cloudbase_rollout.emulator.faults import UNIT_FAILED
from cloudbase_rollout.emulator.fleet import DEFAULT_IMAGE
from cloudbase_rollout.emulator.gateway import BUSY
from cloudbase_rollout.emulator.state import FAILED, Key, SettleFailure, State

DEFAULT_TOKEN = "emulator-access-token"  # noqa: S105 (the emulator's own, printed on purpose)


def unit(text: str) -> Key:
    """ENV_ID/SERVER_NAME, as --fail-unit takes it."""
    env_id, _, name = text.partition("/")
    if not env_id or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not ENV_ID/SERVER_NAME")
    return env_id, name


def slow_unit(text: str) -> tuple[Key, float]:
    """ENV_ID/SERVER_NAME=SECONDS, as --slow-unit takes it."""
    where, _, seconds = text.rpartition("=")
    try:
        value = float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not ENV_ID/SERVER_NAME=SECONDS") from None
    if not 0 <= value < 1e9:
        raise argparse.ArgumentTypeError(f"{text!r}: the seconds must be 0 or more")
    return unit(where), value


def arguments() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cloudbase-rollout emulator", description=server.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)")
    p.add_argument("--token", default=DEFAULT_TOKEN, help=f"the token accepted (default {DEFAULT_TOKEN})")
    p.add_argument("--expired-token", action="append", default=[], help="a token answered with 42001")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--fail-next", type=int, default=0, help="answer the next N rollouts with errcode -1")
    p.add_argument("--settle-seconds", type=float, default=2.0,
                   help="seconds a rolled-out version reads `deploying` before it settles (default 2)")
    p.add_argument("--fail-settle", type=int, default=0, metavar="N",
                   help="the next N rollouts settle to --fail-status instead of normal")
    p.add_argument("--fail-status", default=FAILED, help=f"the status they settle to (default {FAILED})")
    p.add_argument("--read-fail-next", type=int, default=0, metavar="N",
                   help="answer the next N list/detail calls with --read-fail-errcode")
    p.add_argument("--read-fail-errcode", type=int, default=-1, choices=sorted(BUSY),
                   help="-1 busy, 45011 minute quota, 45009 daily quota (default -1)")
    p.add_argument("--read-fail-http", action="store_const", const=503, default=200,
                   help="fail those reads with HTTP 503 instead")
    p.add_argument("--list-run-id", action="store_true", help="list items carry the run_id of their rollout")
    p.add_argument("--detail-numbers", action="store_true",
                   help="the detail's cpu, mem, minnum, maxnum, policy_threshold as numbers, not as sent")
    p.add_argument("--component-appid", default=State.component_appid)
    p.add_argument("--component-appsecret", default=State.component_appsecret)
    p.add_argument("--component-verify-ticket", default=State.component_verify_ticket)
    _fleet_arguments(p)
    return p


def _fleet_arguments(p: argparse.ArgumentParser) -> None:
    """The flags for a fleet: seeding it, failing or slowing some of its units, the quota."""
    p.add_argument("--seed-envs", type=int, default=0, metavar="N", help="seed N environments (a fleet)")
    p.add_argument("--seed-services", default="shop-api", metavar="A,B",
                   help="the services of each seeded environment (default shop-api)")
    p.add_argument("--seed-unavailable", type=int, default=0, metavar="K", help="K of them UNAVAILABLE")
    p.add_argument("--seed", default="0", help="what the fleet's ids are derived from (default 0)")
    p.add_argument("--seed-image", default=DEFAULT_IMAGE,
                   help="each seeded version's image; {service} is the service name (default %(default)s)")
    p.add_argument("--fail-unit", type=unit, action="append", default=[], metavar="ENV_ID/SERVER_NAME",
                   help=f"every rollout of that unit settles to {UNIT_FAILED} (repeatable)")
    p.add_argument("--slow-unit", type=slow_unit, action="append", default=[],
                   metavar="ENV_ID/SERVER_NAME=SECONDS", help="that unit settles after SECONDS (repeatable)")
    p.add_argument("--minute-quota-after", type=int, metavar="K",
                   help="after K calls, answer 45011 for --minute-quota-seconds, then allow K more")
    p.add_argument("--minute-quota-seconds", type=float, default=60.0, metavar="S",
                   help="how long the minute quota refuses (default 60)")
    p.add_argument("--daily-quota-after", type=int, metavar="K", help="answer 45009 to every call after the Kth")


def state_of(o: argparse.Namespace) -> State:
    """The state the flags describe, seeded and with its faults in place."""
    state = State(o.token, set(o.expired_token), o.component_appid, o.component_appsecret,
                  o.component_verify_ticket, delay=o.delay, fail_next=o.fail_next, settle_seconds=o.settle_seconds,
                  list_run_id=o.list_run_id, read_fail_next=o.read_fail_next, detail_numbers=o.detail_numbers,
                  read_fail_errcode=o.read_fail_errcode, read_fail_http=o.read_fail_http)
    if o.fail_settle:
        state.fail_settling(SettleFailure(None, None, None, o.fail_status, o.fail_settle))
    if o.seed_envs:
        services = tuple(name.strip() for name in o.seed_services.split(",") if name.strip())
        state.seed_fleet(o.seed_envs, services, o.seed_image, o.seed_unavailable, o.seed)
    state.fail_units(o.fail_unit)
    for (env_id, name), seconds in o.slow_unit:
        state.settle_slowly(env_id, name, seconds)
    state.set_quota(o.minute_quota_after, o.minute_quota_seconds, o.daily_quota_after)
    return state


def main(argv: Sequence[str]) -> int:
    parser = arguments()
    o = parser.parse_args(argv)
    try:
        state = state_of(o)
    except ValueError as error:
        parser.error(str(error))
    emulator = server.Emulator(state, o.host, o.port)
    shown = o.token if o.token == DEFAULT_TOKEN else "the one given with --token"
    print(f"cloudbase-rollout emulator listening on {emulator.url} (access_token: {shown})", flush=True)
    print(f"  POST {emulator.url}{API_PATH}?access_token=<token>; GET {emulator.url}/_emulator/services", flush=True)
    if o.seed_envs:
        print(f"  fleet: {o.seed_envs} environments ({o.seed_unavailable} UNAVAILABLE) with {o.seed_services};"
              f" GET {emulator.url}/_emulator/fleet lists their appids", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.server_close()
    return 0
