"""Endings a job's own command causes before it runs: the engine could not start it (C1).

The engine refuses `start` when the program does not exist or cannot be executed; its message
names the program. That is the user's error (a typo, a missing file), said plainly with the
shell's exit codes, never reported as our own failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docker.errors import APIError

from offcoder.jobs.outcome import EndReason

# The OCI runtime's words, as the engine passes them on, e.g. `... unable to start container
# process: exec: "notacommand": executable file not found in $PATH: unknown`.
# The name is quoted as Go quotes strings: a quote inside it comes as \".
_EXEC_FAILURE = re.compile(r'(exec: "(?:[^"\\]|\\.)*": .*?)(?:: unknown)?\s*$')


@dataclass(frozen=True)
class UnstartableCommand:
    reason: EndReason  # command_not_found | command_not_executable
    exit_code: int  # 127 | 126, as a shell says them
    message: str  # the engine's sentence, e.g. exec: "x": executable file not found in $PATH


def unstartable_command(error: APIError) -> UnstartableCommand | None:
    """What the engine's refusal to start says of the command, or None for any other refusal."""
    explanation = str(getattr(error, "explanation", None) or error)
    found = _EXEC_FAILURE.search(explanation)
    if found is None:
        return None
    message = found.group(1)
    if message.endswith("permission denied"):
        return UnstartableCommand(EndReason.command_not_executable, 126, message)
    return UnstartableCommand(EndReason.command_not_found, 127, message)
