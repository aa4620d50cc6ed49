"""The runtime's view of Docker: the policy proxy's socket, never the engine's (C2)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import docker
import httpx
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from offcoder.runtime.policy import LABEL_DEPLOYMENT, LABEL_MANAGED

# The engine API version docker-py speaks here (`version=` below); the proxy refuses < 1.40.
API_VERSION = "1.41"


class RuntimeUnavailable(Exception):
    """The proxy or the engine behind it cannot be reached."""


class _ErrorAnswer:
    """What docker-py's `APIError` reads of an answer to say itself: status, URL and reason."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.url = str(response.url)
        self.reason = response.reason_phrase


def engine_error(response: httpx.Response) -> APIError:
    """docker-py's exception for an error answer: `APIError` (`NotFound`, or `ImageNotFound` when
    the engine names a missing image, for a 404) whose `explanation` is the answer's
    ``message`` (the engine's or the proxy's words) or else its text."""
    try:
        explanation = str(response.json()["message"])
    except (ValueError, KeyError, TypeError):
        explanation = response.text.strip()
    cls = APIError
    if response.status_code == 404:
        cls = ImageNotFound if "no such image" in explanation.lower() else NotFound
    answer = _ErrorAnswer(response)
    message = f"{answer.status_code} {answer.reason} for {answer.url}"
    error: APIError = cls(message, response=answer, explanation=explanation)
    return error


class RuntimeClient:
    """Blocking calls (docker-py); the worker runs them in threads."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        try:
            self.docker = docker.DockerClient(
                base_url=f"unix://{socket_path}", version=API_VERSION, timeout=60
            )
        except DockerException as exc:
            raise RuntimeUnavailable(f"the Docker proxy at {socket_path} is not reachable") from exc
        self._http = httpx.Client(transport=httpx.HTTPTransport(uds=socket_path), timeout=120)
        self._deployment: str | None = None

    def ping(self) -> bool:
        try:
            return bool(self.docker.ping())
        except DockerException:
            return False

    def deployment(self) -> str:
        """The deployment id of the proxy (asked once): every sandbox of ours carries it, and
        the proxy shows us nothing of another deployment's."""
        if self._deployment is None:
            response = self._http.get("http://proxy/offcoder/deployment")
            if response.status_code != 200:
                raise RuntimeUnavailable(f"the proxy did not say its deployment: {response.text}")
            self._deployment = str(response.json()["Deployment"])
        return self._deployment

    def runtimes(self) -> tuple[set[str], set[str]]:
        """The sandbox runtimes the proxy allows, and the runtimes its engine offers (by the
        engine's names, `policy.ENGINE_RUNTIMES`)."""
        response = self._http.get("http://proxy/offcoder/runtimes")
        if response.status_code != 200:
            raise RuntimeUnavailable(f"the proxy did not list runtimes: {response.text[:300]}")
        body = response.json()
        return set(body["Allowed"]), set(body["Engine"])

    def jobs_with_objects(self) -> set[uuid.UUID]:
        """The jobs holding anything of this deployment on the engine: a container, a network,
        a workspace volume or image (what a worker killed at any step leaves)."""
        response = self._http.get("http://proxy/offcoder/jobs")
        if response.status_code != 200:
            raise RuntimeUnavailable(f"the proxy did not list its jobs: {response.text[:300]}")
        return {uuid.UUID(job) for job in response.json()["Jobs"]}

    def provision_workspace(self, job_id: uuid.UUID) -> dict[str, Any]:
        """A fresh per-job workspace with its 500 MB quota, made by the proxy."""
        response = self._http.post(f"http://proxy/offcoder/workspaces/{job_id}")
        if response.status_code != 201:
            raise RuntimeUnavailable(f"workspace provisioning failed: {response.text[:300]}")
        mount: dict[str, Any] = response.json()["Mount"]
        return mount

    def teardown_workspace(self, job_id: uuid.UUID) -> None:
        self._http.delete(f"http://proxy/offcoder/workspaces/{job_id}")

    def provision_network(self, job_id: uuid.UUID, mode: str) -> str:
        """The job's own network (preview/egress), made by the proxy with fixed options."""
        response = self._http.post(
            f"http://proxy/offcoder/networks/{job_id}", params={"mode": mode}
        )
        if response.status_code != 201:
            raise RuntimeUnavailable(f"network provisioning failed: {response.text[:300]}")
        return str(response.json()["Network"])

    def teardown_network(self, job_id: uuid.UUID) -> None:
        self._http.delete(f"http://proxy/offcoder/networks/{job_id}")

    def provision_gateway(
        self, job_id: uuid.UUID, allow_hosts: list[str], extra_ports: list[int]
    ) -> str:
        """An egress job's filtering gateway (C5), made by the proxy; answers its name."""
        response = self._http.post(
            f"http://proxy/offcoder/gateways/{job_id}",
            json={"AllowHosts": list(allow_hosts), "ExtraPorts": list(extra_ports)},
        )
        if response.status_code != 201:
            raise RuntimeUnavailable(f"egress gateway provisioning failed: {response.text[:300]}")
        return str(response.json()["Gateway"])

    def teardown_gateway(self, job_id: uuid.UUID) -> None:
        self._http.delete(f"http://proxy/offcoder/gateways/{job_id}")

    def provision_layer(
        self, job_id: uuid.UUID, project_id: uuid.UUID, owner_tag: str, size_bytes: int
    ) -> str:
        """A new, empty dependency layer for install job `job_id`, made by the proxy with its
        fixed-size ext4 image; answers the volume's name."""
        response = self._http.post(
            f"http://proxy/offcoder/layers/{job_id}",
            json={"Project": str(project_id), "Owner": owner_tag, "SizeBytes": size_bytes},
        )
        if response.status_code != 201:
            raise RuntimeUnavailable(f"dependency layer provisioning failed: {response.text[:300]}")
        return str(response.json()["Volume"])

    def layer_size(self, job_id: uuid.UUID) -> int | None:
        """The bytes the layer built by `job_id` takes on the runtime host; None if it is gone."""
        response = self._http.get(f"http://proxy/offcoder/layers/{job_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RuntimeUnavailable(f"dependency layer lookup failed: {response.text[:300]}")
        return int(response.json()["SizeBytes"])

    def remove_layer(self, job_id: uuid.UUID) -> bool | None:
        """Remove the layer built by `job_id`: True, False if there was none, None while a
        container still mounts it (it stays; the reconciler tries again)."""
        response = self._http.delete(f"http://proxy/offcoder/layers/{job_id}")
        if response.status_code == 409:
            return None
        if response.status_code not in (200, 404):
            raise RuntimeUnavailable(f"dependency layer removal failed: {response.text[:300]}")
        return response.status_code == 200

    def create(self, spec: dict[str, Any]) -> str:
        """Create a sandbox from `spec` (a `policy.container_spec` body); its container id.

        docker-py has no public call that posts a whole create body as given (its
        `create_container` rebuilds the body from keyword arguments), so the body goes through
        our own client on the proxy's socket (not docker-py's private `_post_json`), serialised
        as docker-py did. An error answer raises what docker-py raises for it, so callers
        handle the proxy's and the engine's refusals as before.
        """
        response = self._http.post(
            f"http://proxy/v{API_VERSION}/containers/create",
            content=json.dumps(spec).encode(),
            headers={"Content-Type": "application/json"},
            timeout=60,  # docker-py's timeout above, as before
        )
        if response.is_error:
            raise engine_error(response)
        result: dict[str, Any] = response.json()
        return str(result["Id"])

    def put_archive(self, container_id: str, path: str, archive: bytes) -> None:
        if not self.docker.api.put_archive(container_id, path, archive):
            raise RuntimeUnavailable("the engine refused the project archive")

    def start(self, container_id: str) -> None:
        self.docker.api.start(container_id)

    def wait(self, container_id: str) -> int:
        result = self.docker.api.wait(container_id, timeout=None)
        return int(result.get("StatusCode", -1))

    def kill(self, container_id: str) -> None:
        try:
            self.docker.api.kill(container_id)
        except NotFound:
            pass
        except DockerException as exc:
            # Already stopped is fine: the point is that it is not running.
            if "is not running" not in str(exc):
                raise

    def inspect(self, container_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.docker.api.inspect_container(container_id)
        return result

    def remove(self, container_id: str) -> None:
        try:
            self.docker.api.remove_container(container_id, force=True)
        except NotFound:
            pass
        except DockerException as exc:
            # Another remover got there first (a reconciler): wait until it is gone.
            if "already in progress" not in str(exc):
                raise
            for _ in range(100):
                try:
                    self.docker.api.inspect_container(container_id)
                except NotFound:
                    return
                time.sleep(0.1)
            raise

    def attach(self, container_id: str) -> Any:
        """The sandbox's stdout and stderr as they are written: `(stdout, stderr)` pairs, one
        of them None, in the order the engine read them. Open it before `start`.

        The attach stream carries the raw reads of the container's stdio, ending once they are
        all delivered. The engine's log (`logs?follow=1`) is not used: its json-file copier
        holds a line's last partial piece (up to 16 KiB) until a newline or the end of the
        stream, and a follower may stop at the container's exit before that piece is written
        (a job printing 1,000,000 bytes without a newline lost its last 576).
        """
        return self.docker.api.attach(
            container_id, stdout=True, stderr=True, stream=True, logs=False, demux=True
        )

    def usage(self, container_id: str) -> tuple[int | None, int | None]:
        """(CPU time in ns, peak memory in bytes so far) of a running sandbox, or Nones."""
        try:
            stats = self.docker.api.stats(container_id, stream=False, one_shot=True)
        except DockerException:
            return None, None
        cpu = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
        memory = stats.get("memory_stats") or {}
        peak = memory.get("max_usage") or memory.get("usage")
        return (int(cpu) if cpu else None), (int(peak) if peak else None)

    def managed_containers(self) -> list[dict[str, Any]]:
        """This deployment's containers (the proxy adds the same filter whatever is asked)."""
        ours = [f"{LABEL_MANAGED}=1", f"{LABEL_DEPLOYMENT}={self.deployment()}"]
        found: list[dict[str, Any]] = self.docker.api.containers(all=True, filters={"label": ours})
        return found

    def close(self) -> None:
        self._http.close()
        self.docker.close()
