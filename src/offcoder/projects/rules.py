"""What a project name, slug, file path and secret name may be (api.md).

Pure functions with no I/O, so the rules are tested on their own and every endpoint applies the
same ones. Each `check_*` raises `InvalidInput` (422) with a message that never repeats a value
the client sent as a secret.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from urllib.parse import unquote_to_bytes

from offcoder.problems import InvalidInput, PayloadTooLarge

# --- projects ---------------------------------------------------------------------------------

# Slugs become part of preview host names (`<handle>-<slug>.<preview domain>`, C7), so they are
# lowercase DNS-label characters. 40 leaves room for a handle inside one 63-byte label in most
# cases; the preview code decides what to do with the rest.
SLUG_MAX = 40
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug_base(name: str) -> str:
    """A lowercase DNS label derived from a project name ("My App!" -> "my-app")."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", folded.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "project"


def slug_with_suffix(base: str, n: int) -> str:
    """`base-n`, with `base` shortened so the whole slug still fits in SLUG_MAX."""
    suffix = f"-{n}"
    return base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix


def slug_with_random_suffix(base: str) -> str:
    suffix = "-" + secrets.token_hex(3)
    return base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix


MAX_PROJECT_NAME = 100  # projects.name is VARCHAR(100)


def check_project_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("A project name must not be empty.")
    # The API's schema says so too; the console's form reaches here without it (a 500 from the
    # column's length before).
    if len(name) > MAX_PROJECT_NAME:
        raise InvalidInput(f"A project name has at most {MAX_PROJECT_NAME} characters.")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidInput("A project name must not contain control characters.")
    return name


# The shell line a project's Run button runs (as `sh -c '<line>'`), remembered on the project.
RUN_COMMAND_MAX = 4096


def check_run_command(line: str) -> str:
    """A run command: one line of shell, not blank, no control characters but tabs."""
    line = line.strip()
    if not line:
        raise InvalidInput("A run command must not be empty; send null to forget it.")
    if len(line) > RUN_COMMAND_MAX:
        raise InvalidInput(f"A run command may be at most {RUN_COMMAND_MAX} characters.")
    if any(unicodedata.category(ch) == "Cc" and ch != "\t" for ch in line):
        raise InvalidInput("A run command is one line, without control characters.")
    return line


# --- file paths -------------------------------------------------------------------------------

MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 1024


def decode_raw_path(raw: bytes) -> str:
    """The file path from the still percent-encoded request target.

    Servers decode `%ff` to U+FFFD before routing; decoding the raw bytes ourselves is what lets
    an invalid UTF-8 escape be refused instead of silently stored as a replacement character.
    """
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("The file path is not valid UTF-8.") from exc


def check_file_path(path: str) -> str:
    """Refuse any path outside the rules of api.md; return it unchanged when it is inside them.

    UTF-8, NFC, `/`-separated; no empty, `.` or `..` segment; no leading `/`; no backslash,
    NUL or other control character (Unicode category Cc: C0, DEL and C1); at most 255 bytes a
    segment and 1024 in all. A non-NFC path is refused rather than normalised, so two spellings
    of one name never become two files.
    """
    if not path:
        raise InvalidInput("The file path must not be empty.")
    if path.startswith("/"):
        raise InvalidInput("The file path must not start with '/'.")
    if "\\" in path:
        raise InvalidInput("The file path must not contain a backslash.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in path):
        raise InvalidInput("The file path must not contain NUL or control characters.")
    if unicodedata.normalize("NFC", path) != path:
        raise InvalidInput("The file path must be in Unicode normalization form C (NFC).")
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise InvalidInput(f"The file path is longer than {MAX_PATH_BYTES} bytes.")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidInput("The file path must not contain an empty, '.' or '..' segment.")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidInput(f"A file path segment is longer than {MAX_SEGMENT_BYTES} bytes.")
    return path


# --- secrets ----------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
MAX_SECRET_VALUE_BYTES = 64 * 1024

RESERVED_SECRET_NAMES = frozenset(
    {
        # The process environment every job starts with.
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "HOSTNAME", "TERM",
        "LANG", "LANGUAGE", "TZ", "TMPDIR", "MAIL", "_",
        # Shell start-up and parsing: these run code or change word splitting before ours.
        "IFS", "ENV", "BASH_ENV", "CDPATH", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE",
        "PROMPT_COMMAND", "PS4",
        # Node's loader.
        "NODE_OPTIONS", "NODE_PATH",
        # Proxies: egress filtering (C5) must not be routed around.
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY",
        # glibc variables that change loading, name resolution and character conversion.
        "GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "NLSPATH", "RES_OPTIONS",
        "RESOLV_HOST_CONF",
    }
)  # fmt: skip

RESERVED_SECRET_PREFIXES = (
    "LC_",  # locale categories
    "LD_",  # the dynamic loader (LD_PRELOAD, LD_LIBRARY_PATH, ...)
    "DYLD_",  # its macOS counterpart, for runtimes built on such hosts
    "MALLOC_",  # glibc allocator tuning
    "PYTHON",  # PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, ...
    "BASH_FUNC_",  # exported shell functions
    "OFFCODER_",  # our own runtime's variables
)


def check_secret_name(name: str) -> str:
    """Secret names become environment variables of the same name (C4), so they follow the
    syntax `^[A-Z_][A-Z0-9_]{0,127}$` and none may replace what the runtime needs.

    Refused exactly: PATH, HOME, USER, LOGNAME, SHELL, PWD, OLDPWD, HOSTNAME, TERM, LANG,
    LANGUAGE, TZ, TMPDIR, MAIL, `_`; the shell's IFS, ENV, BASH_ENV, CDPATH, SHELLOPTS, BASHOPTS,
    GLOBIGNORE, PROMPT_COMMAND, PS4; NODE_OPTIONS, NODE_PATH; HTTP_PROXY, HTTPS_PROXY, NO_PROXY,
    ALL_PROXY, FTP_PROXY; glibc's GCONV_PATH, GETCONF_DIR, HOSTALIASES, LOCALDOMAIN, NLSPATH,
    RES_OPTIONS, RESOLV_HOST_CONF. Refused by prefix: LC_*, LD_*, DYLD_*, MALLOC_*, PYTHON*,
    BASH_FUNC_*, OFFCODER_*. Lowercase variants cannot occur: the syntax admits none.
    """
    if not SECRET_NAME.match(name):
        raise InvalidInput(
            "A secret name must match ^[A-Z_][A-Z0-9_]{0,127}$ "
            "(it becomes an environment variable)."
        )
    if name in RESERVED_SECRET_NAMES or name.startswith(RESERVED_SECRET_PREFIXES):
        raise InvalidInput(f"The name {name} is reserved for the runtime.")
    return name


def check_secret_value(value: str) -> str:
    """At most 64 KiB of UTF-8 (413, worded like the body limit's 413) and no NUL (422).

    The messages name the rule only: the value itself is the secret.
    """
    if len(value.encode("utf-8")) > MAX_SECRET_VALUE_BYTES:
        raise PayloadTooLarge(f"A secret value is larger than {MAX_SECRET_VALUE_BYTES} bytes.")
    if "\x00" in value:
        raise InvalidInput("A secret value cannot contain NUL (environment variables cannot).")
    return value
