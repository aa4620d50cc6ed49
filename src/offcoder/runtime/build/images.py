"""The sandbox runtime images, built locally without a container registry.

Each image is a minimal Debian 12 (bookworm) root filesystem made with ``mmdebstrap`` (or
``debootstrap --variant=minbase``) from the apt mirror configured on this machine, plus one
language toolchain, hardened for running untrusted code (promise C1), and ``docker import``-ed:

- a sandbox user ``sandbox`` with uid/gid 10001 and home ``/workspace`` (owned by it), which
  is the image's default user (never root, never 65534: see docs/runtime-notes);
- no setuid/setgid file anywhere, and no file capabilities (the tarball is made without xattrs);
- no tool a job does not need that helps an attack: ``su``, ``mount``, ``unshare``, ``nsenter``,
  ``setpriv``, ``chroot``, the shadow/PAM helpers, the disk and filesystem tools (see
  ``REMOVED_TOOLS``); a shell and coreutils stay;
- no apt lists or caches, no logs, an empty ``/dev`` (Docker provides its own).

The tag of an image is a hash of its build recipe (``recipe_tag``), so a changed recipe builds a
new image; ``:current`` points at the newest. The base root filesystem tarball is cached in the
state directory so the images share one bootstrap.

The image names, references and recipes are the catalogue (`offcoder.runtime.catalogue`), which
the request path and the worker import instead of this module. Environment variables (all
optional):

- ``OFFCODER_STATE_DIR``: where the base tarball, the build log and the work tree live
  (default ``~/.local/share/offcoder``; the subdirectory is ``runtime-images``).
- ``OFFCODER_DEBIAN_MIRROR`` / ``OFFCODER_DEBIAN_SECURITY_MIRROR``: the mirrors to bootstrap
  from (default: read from ``/etc/apt/sources.list`` and ``/etc/apt/sources.list.d/``).
- ``OFFCODER_DOCKER``: the docker CLI to run (default ``docker``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from offcoder.runtime.catalogue import (
    CURRENT_TAG,
    IMAGES,
    RECIPES,
    REPOSITORY_PREFIX,
    ImageRecipe,
    image_reference,
    resolve_image,
)

SUITE = "bookworm"
SANDBOX_UID = 10001
SANDBOX_GID = 10001
IMAGE_LABEL = "dev.offcoder.runtime-image"
RECIPE_LABEL = "dev.offcoder.runtime-recipe"

# Bump to force a rebuild when something outside the hashed recipe below changes the result.
RECIPE_VERSION = 1


# Tools removed from every image (looked up in /usr/bin, /usr/sbin, /bin, /sbin). Judgement:
# everything that changes identity or privilege, manipulates mounts, namespaces or devices, or
# administers users; a job running as uid 10001 without capabilities has no legitimate use
# for any of them. Shells, coreutils (minus chroot), findutils, grep, sed, tar, perl stay.
REMOVED_TOOLS: tuple[str, ...] = (
    # identity and privilege
    "su", "sulogin", "login", "newgrp", "sg", "runuser", "passwd", "chsh", "chfn", "chage",
    "expiry", "gpasswd", "chgpasswd", "chpasswd", "newusers", "useradd", "userdel", "usermod",
    "groupadd", "groupdel", "groupmems", "groupmod", "adduser", "addgroup", "deluser",
    "delgroup", "vipw", "vigr", "pwck", "grpck", "pwconv", "pwunconv", "grpconv", "grpunconv",
    "cppw", "cpgr", "unix_chkpwd", "unix_update", "pam_timestamp_check", "mkhomedir_helper",
    "pam_namespace_helper", "pwhistory_helper", "faillock", "newuidmap", "newgidmap", "sudo",
    # mounts, namespaces, root switching, capabilities
    "mount", "umount", "unshare", "nsenter", "setpriv", "chroot", "pivot_root", "switch_root",
    "capsh", "setcap", "getpcaps",
    # personality (setarch -R turns ASLR off) and kernel/hardware controls
    "setarch", "linux32", "linux64", "i386", "x86_64", "dmesg", "chcpu", "chmem", "hwclock",
    "rtcwake", "ctrlaltdel", "ldattach", "readprofile", "zramctl", "agetty", "getty",
    "killall5", "wall", "write", "insmod", "rmmod", "modprobe", "kmod", "lsmod",
    # block devices and filesystems
    "losetup", "swapon", "swapoff", "mkswap", "fsfreeze", "fstrim", "blockdev", "blkdiscard",
    "blkzone", "wipefs", "badblocks", "debugfs", "e2image", "dumpe2fs", "e2fsck", "fsck",
    "fsck.ext2", "fsck.ext3", "fsck.ext4", "fsck.minix", "fsck.cramfs", "mke2fs", "mkfs",
    "mkfs.ext2", "mkfs.ext3", "mkfs.ext4", "mkfs.minix", "mkfs.bfs", "mkfs.cramfs", "tune2fs",
    "resize2fs", "e2label", "e4crypt", "e4defrag", "e2freefrag", "e2undo", "e2scrub",
    "e2scrub_all", "e2mmpstatus", "mklost+found", "swaplabel", "addpart", "delpart",
    "resizepart", "partx",
)  # fmt: skip

_SHELL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Runs as root inside the root filesystem (chroot), after the packages are installed.
HARDEN_SCRIPT = f"""\
set -eu
grep -q '^sandbox:' /etc/group || echo 'sandbox:x:{SANDBOX_GID}:' >> /etc/group
grep -q '^sandbox:' /etc/gshadow || echo 'sandbox:!::' >> /etc/gshadow
grep -q '^sandbox:' /etc/passwd || \\
  echo 'sandbox:x:{SANDBOX_UID}:{SANDBOX_GID}:OffCoder sandbox:/workspace:/bin/sh' >> /etc/passwd
grep -q '^sandbox:' /etc/shadow || echo 'sandbox:!:19000:0:99999:7:::' >> /etc/shadow
mkdir -p /workspace
chown {SANDBOX_UID}:{SANDBOX_GID} /workspace
chmod 0755 /workspace
mkdir -p /tmp
chmod 1777 /tmp
for tool in {" ".join(REMOVED_TOOLS)}; do
  for dir in /usr/local/bin /usr/local/sbin /usr/bin /usr/sbin /bin /sbin; do
    rm -f "$dir/$tool"
  done
done
find / -xdev -perm /6000 -type f -exec chmod ug-s {{}} +
if [ -n "$(find / -xdev -perm /6000 -type f)" ]; then
  echo 'setuid/setgid files left' >&2; exit 1
fi
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/lib/dpkg/*-old
rm -rf /var/log/* /tmp/* /var/tmp/* /root/.cache
find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian
rm -f /usr/sbin/policy-rc.d /etc/machine-id
: > /etc/resolv.conf
: > /etc/hostname
rm -rf /dev/*
"""

# Runs as root inside the root filesystem (chroot) on the unpacked base. --force-unsafe-io: no
# fsync per file (a throwaway tree; it halves the time of node's ~400 packages).
INSTALL_SCRIPT = """\
set -eu
apt-get update
apt-get -y -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-unsafe-io upgrade
apt-get -y -o Dpkg::Options::=--force-unsafe-io install --no-install-recommends {packages}
{check}
"""


def install_script(recipe: ImageRecipe) -> str:
    return INSTALL_SCRIPT.format(packages=" ".join(recipe.packages), check=recipe.check)


DOCKER_CHANGES: tuple[str, ...] = (
    f"USER {SANDBOX_UID}:{SANDBOX_GID}",
    "WORKDIR /workspace",
    "ENV HOME=/workspace PATH=/usr/local/bin:/usr/bin:/bin",
    'CMD ["/bin/sh"]',
)


def recipe_tag(recipe: ImageRecipe) -> str:
    """A content hash of the build recipe: a changed recipe gives a new tag (and a rebuild)."""
    doc = {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "variant": "minbase",
        "name": recipe.name,
        "install": install_script(recipe),
        "harden": HARDEN_SCRIPT,
        "changes": list(DOCKER_CHANGES),
        "uid": SANDBOX_UID,
    }
    raw = json.dumps(doc, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# Errors and small helpers


class ImageBuildError(RuntimeError):
    """A build step failed; the message says which and where the log is."""


def state_dir() -> Path:
    configured = os.environ.get("OFFCODER_STATE_DIR")
    base = Path(configured) if configured else Path.home() / ".local" / "share" / "offcoder"
    return base / "runtime-images"


def docker_cli() -> str:
    return os.environ.get("OFFCODER_DOCKER", "docker")


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [docker_cli(), *args], capture_output=True, text=True, check=False, timeout=600
        )
    except FileNotFoundError as exc:
        raise ImageBuildError(
            f"the docker CLI ({docker_cli()}) is not installed: run scripts/ensure-services.sh"
        ) from exc
    if check and result.returncode != 0:
        raise ImageBuildError(
            f"docker {' '.join(args[:2])} failed: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def docker_available() -> str | None:
    """None when the engine answers, else why not."""
    try:
        result = _docker("version", "--format", "{{.Server.Version}}", check=False)
    except ImageBuildError as exc:
        return str(exc)
    if result.returncode != 0 or not result.stdout.strip():
        return f"the Docker engine does not answer: {result.stderr.strip()}"
    return None


def image_id(reference: str) -> str | None:
    result = _docker("image", "inspect", "--format", "{{.Id}}", reference, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def image_size(reference: str) -> int | None:
    result = _docker("image", "inspect", "--format", "{{.Size}}", reference, check=False)
    return int(result.stdout.strip()) if result.returncode == 0 else None


# ---------------------------------------------------------------------------------------------
# Mirrors: the apt mirror configured on this machine is the one allowed registry.


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def _parse_one_line_sources(text: str) -> list[AptSource]:
    sources = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        rest = line[4:].strip()
        if rest.startswith("["):
            end = rest.find("]")
            if end < 0:
                continue
            rest = rest[end + 1 :].strip()
        parts = rest.split()
        if len(parts) >= 2:
            sources.append(AptSource(parts[0], (parts[1],), tuple(parts[2:])))
    return sources


def _parse_deb822_sources(text: str) -> list[AptSource]:
    sources = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:
                fields[key] += " " + raw.strip()
                continue
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            sources.append(AptSource(uri, suites, components))
    return sources


def configured_apt_sources(etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    sources: list[AptSource] = []
    main_list = etc_apt / "sources.list"
    if main_list.is_file():
        sources += _parse_one_line_sources(main_list.read_text(errors="replace"))
    parts = etc_apt / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                sources += _parse_one_line_sources(path.read_text(errors="replace"))
            elif path.suffix == ".sources":
                sources += _parse_deb822_sources(path.read_text(errors="replace"))
    return sources


@dataclass(frozen=True)
class Mirrors:
    debian: str
    security: str | None

    def apt_lines(self) -> list[str]:
        lines = [
            f"deb {self.debian} {SUITE} main",
            f"deb {self.debian} {SUITE}-updates main",
        ]
        if self.security:
            lines.append(f"deb {self.security} {SUITE}-security main")
        return lines


def find_mirrors(etc_apt: Path = Path("/etc/apt")) -> Mirrors:
    """The Debian (and security) mirror of this machine's apt configuration, or the env's."""
    env_main = os.environ.get("OFFCODER_DEBIAN_MIRROR")
    env_security = os.environ.get("OFFCODER_DEBIAN_SECURITY_MIRROR")
    sources = [s for s in configured_apt_sources(etc_apt) if s.uri.split(":")[0] in _SCHEMES]
    main = env_main or _pick(sources, SUITE, "/debian")
    security = env_security or _pick(sources, f"{SUITE}-security", "/debian-security")
    if not main:
        raise ImageBuildError(
            f"no Debian mirror found in {etc_apt}/sources.list or {etc_apt}/sources.list.d/"
            " (a 'deb' entry for bookworm, or a URI ending in /debian): set"
            " OFFCODER_DEBIAN_MIRROR to the mirror to bootstrap from"
        )
    return Mirrors(main.rstrip("/"), security.rstrip("/") if security else None)


_SCHEMES = ("http", "https", "file")


def _pick(sources: Sequence[AptSource], suite: str, path_suffix: str) -> str | None:
    for source in sources:
        if suite in source.suites and "main" in source.components:
            return source.uri
    for source in sources:
        if source.uri.rstrip("/").endswith(path_suffix):
            return source.uri
    return None


# ---------------------------------------------------------------------------------------------
# The build


@dataclass
class BuildResult:
    name: str
    reference: str
    image_id: str
    size: int
    built: bool  # False: it was already current
    seconds: float


class _Steps:
    """Rich progress, one line per step, and a log file for the commands' output."""

    def __init__(self, console: Console, log: IO[str]) -> None:
        self.console = console
        self.log = log
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        task = self.progress.add_task(description, total=1)
        self.log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {description}\n")
        self.log.flush()
        try:
            yield
        except BaseException:
            self.progress.update(task, description=f"[red]{description} (failed)[/]")
            self.progress.stop_task(task)
            raise
        self.progress.update(task, completed=1)
        if not self.console.is_terminal:  # no live display: one line per finished step
            elapsed = self.progress.tasks[task].elapsed or 0.0
            self.console.print(f"done in {elapsed:.0f} s: {description}", highlight=False)

    def run(self, argv: Sequence[str], *, stdin: IO[bytes] | None = None) -> None:
        self.log.write("$ " + " ".join(argv)[:2000] + "\n")
        self.log.flush()
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            list(argv), stdin=stdin, stdout=self.log, stderr=subprocess.STDOUT, check=False
        )
        if result.returncode != 0:
            raise ImageBuildError(f"{argv[0]} exited with status {result.returncode}")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ImageBuildError(f"{name} is not installed on this machine")
    return path


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _bootstrapper() -> str:
    for tool in ("mmdebstrap", "debootstrap"):
        if shutil.which(tool):
            return tool
    raise ImageBuildError(
        "neither mmdebstrap nor debootstrap is installed: run"
        " 'apt-get install -y mmdebstrap' (or scripts/ensure-services.sh as root)"
    )


def _base_key(tool: str, mirrors: Mirrors) -> str:
    doc = {"tool": tool, "suite": SUITE, "variant": "minbase", "sources": mirrors.apt_lines()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def _ensure_base(steps: _Steps, work: Path, mirrors: Mirrors, force: bool) -> Path:
    """The cached minbase tarball (built once, shared by every image)."""
    tool = _bootstrapper()
    tarball = work / f"base-{SUITE}-{_base_key(tool, mirrors)}.tar"
    if tarball.is_file() and not force:
        steps.log.write(f"using cached base {tarball}\n")
        return tarball
    for old in work.glob(f"base-{SUITE}-*.tar"):
        old.unlink()
    partial = tarball.with_suffix(".partial")
    with steps.step(f"Debian {SUITE} minbase root filesystem ({tool}, {mirrors.debian})"):
        if tool == "mmdebstrap":
            steps.run(
                [
                    "mmdebstrap", "--mode=root", "--variant=minbase", "--format=tar",
                    SUITE, str(partial), *mirrors.apt_lines(),
                ]
            )  # fmt: skip
        else:
            rootfs = work / "debootstrap-root"
            _remove_tree(rootfs)
            steps.run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirrors.debian])
            (rootfs / "etc/apt/sources.list").write_text("\n".join(mirrors.apt_lines()) + "\n")
            for cached in (rootfs / "var/cache/apt/archives").glob("*.deb"):
                cached.unlink()
            steps.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."])
            _remove_tree(rootfs)
        partial.rename(tarball)
    return tarball


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    # Chroot commands run in their own mount namespace, so nothing should be mounted here;
    # refuse to descend into a mount anyway (rmtree would follow into /proc).
    for sub in ("proc", "sys", "dev"):
        if os.path.ismount(path / sub):
            raise ImageBuildError(f"{path / sub} is still mounted; not removing {path}")
    shutil.rmtree(path)


def _chroot(steps: _Steps, rootfs: Path, script: str) -> None:
    """Run a shell script as root in the root filesystem, with /proc mounted in a private
    mount namespace (so the mount disappears with the process, whatever happens)."""
    inner = 'mount -t proc proc "$1/proc" && exec chroot "$1" /bin/sh -c "$2"'
    env = {
        "PATH": _SHELL_PATH,
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "DEBIAN_FRONTEND": "noninteractive",
        "HOME": "/root",
    }
    steps.log.write(f"$ chroot {rootfs} /bin/sh -c <<'EOF'\n{script}\nEOF\n")
    steps.log.flush()
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell on our side
        [_tool("unshare"), "--mount", "--propagation", "private", "--",
         "/bin/sh", "-c", inner, "sh", str(rootfs), script],
        stdout=steps.log, stderr=subprocess.STDOUT, env=env, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise ImageBuildError(f"a command in the {rootfs.name} root filesystem failed")


def _build_one(steps: _Steps, work: Path, base: Path, recipe: ImageRecipe, tag: str) -> str:
    reference = image_reference(recipe.name, tag)
    tree = work / f"build-{recipe.name}-{os.getpid()}"
    rootfs = tree / "rootfs"
    _remove_tree(tree)
    rootfs.mkdir(parents=True)
    try:
        with steps.step(f"{recipe.name}: unpack base"):
            steps.run(["tar", "--numeric-owner", "-xpf", str(base), "-C", str(rootfs)])
        with steps.step(f"{recipe.name}: apt-get install {' '.join(recipe.packages)}"):
            resolv = Path("/etc/resolv.conf")
            target = rootfs / "etc/resolv.conf"
            target.unlink(missing_ok=True)
            target.write_bytes(resolv.read_bytes() if resolv.exists() else b"")
            policy = rootfs / "usr/sbin/policy-rc.d"
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
            _chroot(steps, rootfs, install_script(recipe))
        with steps.step(f"{recipe.name}: harden (sandbox user, no setuid, tools removed)"):
            _chroot(steps, rootfs, HARDEN_SCRIPT)
        with steps.step(f"{recipe.name}: docker import {reference}"):
            argv = [docker_cli(), "import"]
            for change in (
                *DOCKER_CHANGES,
                f"LABEL {IMAGE_LABEL}={recipe.name}",
                f"LABEL {RECIPE_LABEL}={tag}",
            ):
                argv += ["--change", change]
            argv += ["--message", f"offcoder runtime image {recipe.name} ({tag})", "-", reference]
            # No --xattrs: file capabilities (security.capability) do not reach the image.
            tar = subprocess.Popen(  # noqa: S603 - fixed argv
                [_tool("tar"), "--numeric-owner", "-C", str(rootfs), "-cf", "-", "."],
                stdout=subprocess.PIPE,
                stderr=steps.log,
            )
            assert tar.stdout is not None
            try:
                steps.run(argv, stdin=tar.stdout)
            finally:
                tar.stdout.close()
                if tar.wait() != 0:
                    raise ImageBuildError("tar of the root filesystem failed")
        with steps.step(f"{recipe.name}: smoke test in a container (network none)"):
            steps.run(
                [
                    docker_cli(), "run", "--rm", "--network", "none", "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges", "--label", "dev.offcoder.build=1",
                    reference, "/bin/sh", "-c",
                    f'test "$(id -u)" = {SANDBOX_UID} && {recipe.smoke}',
                ]
            )  # fmt: skip
    finally:
        _remove_tree(tree)
    if not image_id(reference):
        raise ImageBuildError(f"{reference} is missing after the import")
    return reference


def _prune_old_tags(name: str, keep: str) -> None:
    """Remove the older recipe tags of an image (ignored if a container still uses one)."""
    repo = f"{REPOSITORY_PREFIX}{name}"
    listing = _docker("image", "ls", repo, "--format", "{{.Tag}}", check=False)
    for tag in listing.stdout.split():
        if tag not in (keep, CURRENT_TAG, "<none>"):
            _docker("image", "rm", f"{repo}:{tag}", check=False)


def build_images(
    names: Sequence[str] | None = None,
    *,
    force: bool = False,
    console: Console | None = None,
    is_root: Callable[[], bool] = lambda: os.geteuid() == 0,
) -> list[BuildResult]:
    """Build (or just tag) the runtime images; a no-op for images already current."""
    console = console or Console(stderr=True)
    wanted = list(names) if names else sorted(RECIPES)
    for name in wanted:
        resolve_image(name)  # a clear error for an unknown name
    problem = docker_available()
    if problem:
        raise ImageBuildError(f"{problem} (scripts/ensure-services.sh docker starts it)")

    results: list[BuildResult] = []
    todo: list[tuple[ImageRecipe, str]] = []
    for name in wanted:
        recipe = RECIPES[name]
        tag = recipe_tag(recipe)
        reference = image_reference(name, tag)
        existing = image_id(reference)
        if existing and not force:
            if image_id(IMAGES[name]) != existing:
                _docker("tag", reference, IMAGES[name])
            results.append(
                BuildResult(name, reference, existing, image_size(reference) or 0, False, 0.0)
            )
        else:
            todo.append((recipe, tag))
    if not todo:
        return results
    if not is_root():
        missing = ", ".join(image_reference(r.name, t) for r, t in todo)
        raise ImageBuildError(
            f"building {missing} needs root (debootstrap, chroot): run"
            f" 'sudo {shutil.which('offcoder') or 'offcoder'} runtime images'"
        )

    work = state_dir()
    with _build_lock(work):
        log_path = work / "build.log"
        with log_path.open("a") as log:
            steps = _Steps(console, log)
            try:
                with steps.progress:
                    mirrors = find_mirrors()
                    base = _ensure_base(steps, work, mirrors, force)
                    for recipe, tag in todo:
                        started = time.monotonic()
                        reference = image_reference(recipe.name, tag)
                        if force or not image_id(reference):  # another build may have made it
                            reference = _build_one(steps, work, base, recipe, tag)
                        _docker("tag", reference, IMAGES[recipe.name])
                        _prune_old_tags(recipe.name, tag)
                        results.append(
                            BuildResult(
                                recipe.name,
                                reference,
                                image_id(reference) or "",
                                image_size(reference) or 0,
                                True,
                                time.monotonic() - started,
                            )
                        )
            except ImageBuildError as exc:
                log.flush()
                raise ImageBuildError(
                    f"{exc}\n--- last lines of {log_path} ---\n{_log_tail(log_path)}"
                ) from exc
    order = {name: i for i, name in enumerate(wanted)}
    return sorted(results, key=lambda r: order[r.name])
