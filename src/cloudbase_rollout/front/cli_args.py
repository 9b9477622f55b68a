"""Reading the CLI's argv: the subcommand, the global flags on either side of it, and every
mistake as invalid input.

argparse alone would expand abbreviations (`--roll` becoming `--rollback` changes what is
sent) and answer a typo with its whole usage. Here an unknown flag or command is a Problem
naming the closest real one, so it is reported like any other invalid input: exit 2, and
with --json one JSON record on stdout.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, NoReturn

from cloudbase_rollout.errors import InvalidInput, Problem

PROG = "cloudbase-rollout"
#: Flags that mean the same for every command, accepted before the subcommand too.
GLOBAL_FLAGS = ("--json", "--version")


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations, raising InvalidInput where argparse would print usage and exit."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, exit_on_error=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise InvalidInput([Problem("", message)])


def wants_json(args: Sequence[str]) -> bool:
    """--json anywhere before `--`: known even when the rest cannot be parsed."""
    return "--json" in args[:args.index("--")] if "--" in args else "--json" in args


class Argv(NamedTuple):
    command: str
    named: bool  #: `cloudbase-rollout rollout ...` rather than the bare form
    lead: list[str]  #: global flags given before the subcommand
    rest: list[str]  #: what follows the subcommand

    @property
    def flags(self) -> list[str]:
        """The command's arguments: the global flags are accepted on either side of the subcommand."""
        return [*self.lead, *self.rest]


def split(args: Sequence[str], commands: Mapping[str, str]) -> Argv:
    """No subcommand is a rollout (the bare form); a first word that is no command is invalid input."""
    lead = 0
    while lead < len(args) and args[lead] in GLOBAL_FLAGS:
        lead += 1
    first = args[lead] if lead < len(args) else None
    if first is None or first.startswith("-"):
        return Argv("rollout", False, list(args[:lead]), list(args[lead:]))
    if first not in commands:
        meant = closest(first, list(commands))
        hint = f"did you mean {meant}? " if meant else ""
        raise InvalidInput([Problem("command", f"unknown command {first!r} ({hint}commands: {', '.join(commands)})")])
    return Argv(first, True, list(args[:lead]), list(args[lead + 1:]))


def parse(parser: argparse.ArgumentParser, args: Sequence[str],
          rollout: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """The flags; every unknown flag and stray word at once, each a problem. `rollout` is the rollout's
    parser, given to another command's: a rollout's flag there is named as the rollout's."""
    try:
        options, extras = parser.parse_known_args(args)
    except argparse.ArgumentError as error:
        raise InvalidInput([Problem(error.argument_name or "", error.message)]) from None
    problems = unknown(parser, extras, set(_flags(rollout)) if rollout else set())
    if problems:
        raise InvalidInput(problems)
    return options


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")]


def unknown(parser: argparse.ArgumentParser, extras: Sequence[str], rollouts: set[str]) -> list[Problem]:
    """An unknown flag names the closest real one; the word after it is taken as its value, not reported."""
    flags = _flags(parser)
    problems = []
    for index, word in enumerate(extras):
        given = word.split("=", 1)[0]  # never echo a value: it may be a secret
        if given in rollouts:
            problems.append(Problem(given, f"is not a flag of {parser.prog}: it goes with {PROG} rollout"))
        elif word.startswith("-"):
            meant = closest(given, flags)
            hint = f"; did you mean {meant}?" if meant else ""
            if meant and meant.startswith(given):
                hint += " (flags are never abbreviated)"
            problems.append(Problem(given, f"is not a flag of {parser.prog}{hint}"))
        elif index == 0 or not extras[index - 1].startswith("-") or "=" in extras[index - 1]:
            problems.append(Problem("", f"unexpected argument {json.dumps(word[:40])}: every value follows its "
                                    "flag, e.g. --server-name api"))
    return problems


def closest(word: str, choices: Sequence[str]) -> str | None:
    """The likeliest meant choice: the one it abbreviates, else the most similar (difflib)."""
    starting = [choice for choice in choices if choice.startswith(word)]
    if len(starting) == 1:
        return starting[0]
    found = difflib.get_close_matches(word, starting or choices, n=1, cutoff=0.7)
    return found[0] if found else None
