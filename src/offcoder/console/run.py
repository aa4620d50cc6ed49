"""What the console's Run button runs: a project's remembered shell line as the job's command.

A line of plain words runs as those words (`python3 main.py` -> ["python3", "main.py"]), so a
missing program is the engine's own `command_not_found`; a line with anything a shell gives a
meaning to (quotes, `&&`, `|`, `$`, globs, `VAR=value` first...) runs as ["sh", "-c", line], so
it means what it says. The page shows which one before it runs (assets/src/run/command.js holds
the same rules for the browser).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A word that means the same to a shell and to a plain split on spaces.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")


def job_command(line: str) -> list[str]:
    """The job's command for a run line (see the module's docstring)."""
    words = line.split()
    plain = bool(words) and all(_PLAIN_WORD.fullmatch(w) for w in words) and "=" not in words[0]
    return words if plain else ["sh", "-c", line.strip()]


def image_for(command: list[str]) -> str:
    """The runtime image whose toolchain the command starts with: node's for node, npm and
    npx (also behind `sh -c`), python's otherwise."""
    first = command[2].split()[0] if command[:2] == ["sh", "-c"] and command[2].split() else ""
    program = first or command[0]
    return "node" if program in {"node", "npm", "npx"} else "python"


def default_run_command(paths: Iterable[str]) -> str:
    """The line proposed for a project that has none yet, from the files it holds."""
    held = set(paths)
    if "main.py" in held:
        return "python3 main.py"
    if "package.json" in held:
        return "npm start"
    if "index.js" in held:
        return "node index.js"
    if "app.py" in held:
        return "python3 app.py"
    scripts = sorted(p for p in held if p.endswith(".py") and "/" not in p)
    return f"python3 {scripts[0]}" if scripts else "python3 main.py"


# A job's state in a word or two, by status and, once it has ended, by its reason code
# (docs/api.md "output and endings"): a job stopped at its output cap is not "failed exit 0".
_RUNNING = {"queued": "Waiting to start", "starting": "Starting", "running": "Running"}
_ENDED = {
    "exit_code": "Failed",
    "memory_limit": "Out of memory",
    "command_not_found": "Command not found",
    "command_not_executable": "Cannot run",
    "output_limit": "Stopped",
    "timed_out": "Timed out",
    "cancelled": "Stopped",
}
# Endings that are OffCoder's doing, not the program's (and are not charged).
_OURS = {
    "sandbox_lost",
    "log_storage_failed",
    "worker_lost",
    "internal_error",
    "runtime_unavailable",
    "worker_stopped",
    "not_started",
}


def job_words(status: str, reason: str | None, detail: str | None) -> tuple[str, str]:
    """(status in words, the ending as a sentence: "" while it runs) for a person."""
    if status in _RUNNING:
        return _RUNNING[status], ""
    if status == "succeeded":
        return "Succeeded", "Finished: the program exited with code 0."
    if status == "timed_out":
        reason = "timed_out"
    word = _ENDED.get(reason or "", "Interrupted" if reason in _OURS else "Failed")
    said = (detail or "it ended without saying why").rstrip(".")
    sentence = f"{word}: {said}."
    if reason in _OURS:
        sentence += " This was OffCoder's doing, not your program's; it was not charged."
    return word, sentence


def shown_command(command: list[str]) -> str:
    """A job's command as the console shows it: `sh -c '<line>'` for a shell line (the line as
    typed, not re-quoted: it is what a person wrote), its words otherwise."""
    if len(command) == 3 and command[:2] == ["sh", "-c"]:
        return f"sh -c '{command[2]}'"
    return " ".join(command)
