"""What `offcoder doctor` says of the sandbox runtime: whether the policy proxy answers, and
whether every runtime the settings run jobs under is both offered by the engine and allowed by
the proxy (C1, C2). A job under a runtime that fails either fails at its create; this finds it
before any job does, in sentences an operator can act on."""

from __future__ import annotations

from dataclasses import dataclass

from offcoder.config import Settings
from offcoder.runtime.client import RuntimeClient, RuntimeUnavailable
from offcoder.runtime.policy import ENGINE_RUNTIMES, SandboxRuntime

OPERATIONS_DOC = "docs/operations.md, section 'Sandbox runtimes'"


@dataclass(frozen=True)
class Finding:
    ok: bool
    sentence: str


def configured_runtimes(settings: Settings) -> dict[SandboxRuntime, list[str]]:
    """Each runtime the settings use, with who gets it ("the default", "plan pro")."""
    used: dict[SandboxRuntime, list[str]] = {settings.sandbox_runtime: ["the default"]}
    for plan, runtime in sorted(settings.sandbox_runtime_by_plan.items()):
        used.setdefault(runtime, []).append(f"plan {plan}")
    return used


def runtime_findings(settings: Settings) -> list[Finding]:
    try:
        client = RuntimeClient(settings.docker_proxy_socket)
    except RuntimeUnavailable as exc:
        return [Finding(False, f"{exc}: start it with `offcoder docker-proxy`.")]
    try:
        if not client.ping():
            return [
                Finding(
                    False,
                    f"The Docker proxy at {settings.docker_proxy_socket} does not answer: "
                    "start it with `offcoder docker-proxy`, and the Docker engine behind it.",
                )
            ]
        allowed, offered = client.runtimes()
        findings = [
            Finding(
                True,
                f"The Docker proxy answers at {settings.docker_proxy_socket} "
                f"(deployment {client.deployment()}).",
            ),
            Finding(True, f"The engine offers the runtimes: {', '.join(sorted(offered))}."),
            Finding(True, f"The proxy allows the sandbox runtimes: {', '.join(sorted(allowed))}."),
        ]
    except RuntimeUnavailable as exc:
        return [Finding(False, f"{exc}.")]
    finally:
        client.close()
    for runtime, users in configured_runtimes(settings).items():
        who = " and ".join(users)
        missing = [name for name in ENGINE_RUNTIMES[runtime] if name not in offered]
        if runtime.value not in allowed:
            findings.append(
                Finding(
                    False,
                    f"Jobs of {who} run under {runtime.value}, which the proxy does not allow: "
                    f"add it to OFFCODER_PROXY_RUNTIMES where the proxy runs.",
                )
            )
        elif missing:
            findings.append(
                Finding(
                    False,
                    f"Jobs of {who} run under {runtime.value}, but the engine has no runtime "
                    f"named {', '.join(sorted(set(missing)))}: register it ({OPERATIONS_DOC}).",
                )
            )
        else:
            findings.append(Finding(True, f"Jobs of {who} run under {runtime.value}."))
    return findings
