"""The runtime images (`offcoder runtime images`): non-root, hardened, working toolchains (C1).

The docker tests run real containers from the built images (``--network none``, labelled
``dev.offcoder.test=1``, removed afterwards) with the docker CLI. They fail, not skip, when the
images are missing: ``scripts/ensure-services.sh`` (run by ``make test``) builds them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from offcoder.runtime.build.images import IMAGE_LABEL, SANDBOX_UID, find_mirrors, recipe_tag
from offcoder.runtime.catalogue import IMAGES, RECIPES, image_reference, resolve_image

NAMES = sorted(IMAGES)
ABSENT_TOOLS = ("su", "mount", "umount", "unshare", "nsenter", "setpriv", "chroot", "passwd",
                "newgrp", "chsh", "chfn", "gpasswd", "runuser", "sulogin")  # fmt: skip


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker")
    assert exe, "the docker CLI is not installed (scripts/ensure-services.sh docker)"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def run_in(
    name: str, script: str, *, user: str | None = None, hardened: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``sh -c script`` in a fresh container of image ``name``; the container is removed."""
    container = f"offcoder-test-image-{uuid.uuid4().hex[:12]}"
    argv = ["run", "--name", container, "--network", "none", "--label", "dev.offcoder.test=1"]
    if hardened:  # the C1 flags the runtime uses, with a workspace volume as jobs get
        argv += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                 "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m",
                 "--pids-limit", "256", "--memory", "512m", "-v", "/workspace"]  # fmt: skip
    if user is not None:
        argv += ["--user", user]
    argv += [resolve_image(name), "/bin/sh", "-c", script]
    try:
        return docker(*argv)
    finally:
        docker("rm", "-f", "-v", container)


# ---------------------------------------------------------------------------------------------
# No engine needed


def test_resolve_image_known_names() -> None:
    assert resolve_image("python") == "offcoder/python:current"
    assert resolve_image("node") == "offcoder/node:current"
    assert set(IMAGES) == {"python", "node"}


def test_resolve_image_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown image 'ruby'.*node, python"):
        resolve_image("ruby")


def test_recipe_tag_is_a_stable_hash_that_changes_with_the_recipe() -> None:
    from dataclasses import replace

    recipe = RECIPES["python"]
    assert recipe_tag(recipe) == recipe_tag(recipe)
    assert len(recipe_tag(recipe)) == 12
    assert recipe_tag(replace(recipe, packages=(*recipe.packages, "git"))) != recipe_tag(recipe)
    assert recipe_tag(RECIPES["node"]) != recipe_tag(recipe)


def test_mirrors_come_from_the_machine_apt_configuration(tmp_path: Path) -> None:
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    (etc / "sources.list.d" / "other.sources.disabled").write_text(
        "Types: deb\nURIs: https://elsewhere.example/x\nSuites: bookworm\nComponents: main\n"
    )
    mirrors = find_mirrors(etc)
    assert mirrors.debian == "http://mirror.example/debian"
    assert mirrors.security == "http://mirror.example/debian-security"

    (etc / "sources.list.d" / "debian.sources").unlink()
    (etc / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://one.example/debian bookworm main contrib\n"
    )
    mirrors = find_mirrors(etc)
    assert mirrors.debian == "http://one.example/debian"
    assert mirrors.security is None


# ---------------------------------------------------------------------------------------------
# Real engine, real images


@pytest.mark.docker
@pytest.mark.promise("C1")
@pytest.mark.parametrize("name", NAMES)
def test_image_exists_with_its_labels_and_sandbox_config(name: str) -> None:
    result = docker("image", "inspect", resolve_image(name))
    assert result.returncode == 0, (
        f"{resolve_image(name)} is missing: run 'offcoder runtime images' as root "
        f"(scripts/ensure-services.sh runtime_images): {result.stderr}"
    )
    [info] = json.loads(result.stdout)
    config = info["Config"]
    assert config["User"] == f"{SANDBOX_UID}:{SANDBOX_UID}"
    assert config["WorkingDir"] == "/workspace"
    assert "HOME=/workspace" in config["Env"]
    assert config["Labels"][IMAGE_LABEL] == name
    # :current is the image of the current recipe
    assert f"{image_reference(name, recipe_tag(RECIPES[name]))}" in info["RepoTags"]


@pytest.mark.docker
@pytest.mark.promise("C1")
@pytest.mark.parametrize("name", NAMES)
def test_runs_as_the_sandbox_user_with_a_writable_workspace(name: str) -> None:
    result = run_in(
        name,
        'echo "$(id -u):$(id -g):$(id -un):$HOME:$(pwd)"; '
        "echo hello > /workspace/f && cat /workspace/f && mkdir /workspace/d && "
        "echo tmp > /tmp/t && cat /tmp/t",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/workspace:/workspace",
        "hello",
        "tmp",
    ]


@pytest.mark.docker
@pytest.mark.promise("C1")
def test_python_image_has_a_full_python_with_venv_and_pip() -> None:
    result = run_in(
        "python",
        "python3 -c 'import json, ctypes, venv, ssl, sqlite3, zlib, decimal; "
        'print(json.dumps({"ok": ctypes.sizeof(ctypes.c_int)}))\' && '
        "python3 -m venv /workspace/venv && /workspace/venv/bin/python -m pip --version "
        "&& python3 -m pip --version",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == '{"ok": 4}'
    assert lines[1].startswith("pip ") and "/workspace/venv/" in lines[1]
    assert lines[2].startswith("pip ")


@pytest.mark.docker
@pytest.mark.promise("C1")
def test_node_image_runs_node_and_npm() -> None:
    result = run_in(
        "node",
        "node -e 'console.log(JSON.stringify({sum: 1 + 2, v: process.version.length > 1}))' "
        "&& npm --version",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == '{"sum":3,"v":true}'
    assert lines[1][0].isdigit()


@pytest.mark.docker
@pytest.mark.promise("C1")
@pytest.mark.parametrize("name", NAMES)
def test_no_setuid_or_setgid_file_in_the_image(name: str) -> None:
    # As root inside (still --network none): root owns every directory of the image, so find
    # can read them all and none is skipped.
    result = run_in(name, "find / -xdev -perm /6000 -type f; echo done", user="0:0", hardened=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["done"], result.stdout


@pytest.mark.docker
@pytest.mark.promise("C1")
@pytest.mark.parametrize("name", NAMES)
def test_attack_tools_are_absent(name: str) -> None:
    dirs = "/usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin"
    script = (
        f"for t in {' '.join(ABSENT_TOOLS)}; do "
        f"for d in {dirs}; do [ -e $d/$t ] && echo found $d/$t; done; "
        "command -v $t >/dev/null && echo found-on-path $t; done; "
        "command -v sh cat ls >/dev/null && echo shell-and-coreutils-present"
    )
    result = run_in(name, script)
    assert result.stdout.splitlines() == ["shell-and-coreutils-present"], result.stdout
