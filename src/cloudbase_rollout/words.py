"""How each front end names things in what it prints: one vocabulary per front end.

Errors and problems are data; their text is composed with the Words of the front end
that shows them. The Action names its inputs as the workflow writes them
(`wait_timeout_seconds`, `wait: true`, `command: status`); the CLI as its user types
them (`--wait-timeout-seconds`, `--wait`, `cloudbase-rollout status`). A message that
mentions an input or a command holds an `Input` or a `Command`, never a spelling, so no
text is parsed back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Input:
    """An input named inside a message; with a value, a setting (`wait: true`, `command: status`)."""

    name: str
    value: str | None = None


@dataclass(frozen=True)
class Command:
    """A command named inside a message: `command status` in the Action, `cloudbase-rollout status` in the CLI."""

    name: str


#: A message: plain text, or text and the inputs and commands it mentions, to be spelled by a front end.
Message = str | tuple[str | Input | Command, ...]


@dataclass(frozen=True)
class Words:
    """A front end's spelling of inputs, settings and commands.

    `program` is the CLI's name; without it, inputs are spelled as the Action's YAML keys.
    `flags` are the inputs the CLI takes as flags: a problem's label is respelled only
    when it names one. `variables` are the environment variables that stand in for
    inputs (the CLI's secrets): a label names both, since either may have given the value.
    """

    program: str | None = None
    flags: frozenset[str] = frozenset()
    variables: Mapping[str, str] = field(default_factory=dict)

    def input(self, name: str) -> str:
        return name if self.program is None else "--" + name.replace("_", "-")

    def setting(self, name: str, value: str) -> str:
        """How to ask for a value: `wait: true` in a workflow; `--wait`, or the subcommand, in the CLI."""
        if self.program is None:
            return f"{name}: {value}"
        if name == "command":
            return f"{self.program} {value}"
        return self.input(name) if value == "true" else f"{self.input(name)} {value}"

    def command(self, name: str) -> str:
        return f"command {name}" if self.program is None else f"{self.program} {name}"

    def label(self, given: str) -> str:
        """A problem's input as the user gave it: `flow_ratio` or `--flow-ratio`, `request_file (env_id)` or
        `--request-file (env_id)`. Paths into a value (`services[1] flow_ratio`, `image_info.image_url`) stay:
        they name a key inside an input's JSON.
        The CLI's command is its subcommand, not a flag: a problem about it needs no label."""
        if self.program is None:
            return given
        if given == "command":
            return ""
        name, space, more = given.partition(" ")
        if name not in self.flags:
            return given
        variable = self.variables.get(name)
        return self.input(name) + (f" (or {variable})" if variable else "") + space + more

    def compose(self, message: Message) -> str:
        if isinstance(message, str):
            return message
        return "".join(self._spell(part) for part in message)

    def _spell(self, part: str | Input | Command) -> str:
        if isinstance(part, str):
            return part
        if isinstance(part, Command):
            return self.command(part.name)
        return self.input(part.name) if part.value is None else self.setting(part.name, part.value)


#: The Action's words: str(error) and str(problem) speak them.
ACTION = Words()
