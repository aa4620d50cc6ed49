"""A stand-in for the package registries (PyPI's simple index, npm's registry), for tests of
dependency layers: real packages built here, served by a tiny HTTP server in a container on the
egress bridge (`tests.support.egress.stand_ins`), which install jobs reach through their gateway.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import zipfile

PORT = 8000

# Serves the routes of ROUTES (JSON, path -> base64 body), 404 for anything else: index pages
# (paths ending in /) as HTML, packages as bytes, npm's documents as JSON.
SERVER = """
import base64, http.server, json, os
ROUTES = {k: base64.b64decode(v) for k, v in json.loads(os.environ["ROUTES"]).items()}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        body = ROUTES.get(path)
        self.send_response(200 if body is not None else 404)
        if path.endswith("/"):
            self.send_header("Content-Type", "text/html")
        elif path.endswith((".whl", ".tgz")):
            self.send_header("Content-Type", "application/octet-stream")
        else:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""


def wheel(name: str, version: str, modules: dict[str, str]) -> bytes:
    """A pure-Python wheel (py3-none-any) holding `modules` (path -> source)."""
    dist = f"{name}-{version}.dist-info"
    files = dict(modules)
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{dist}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: offcoder-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={encoded},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            # A fixed time: the same wheel, byte for byte, in every process and run (two runs'
            # registries on one engine once served one wheel under the other's hash).
            archive.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def npm_tarball(files: dict[str, str]) -> bytes:
    """An npm package tarball: `files` under ``package/``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{path}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def python_index(wheels: dict[str, tuple[str, bytes]]) -> dict[str, bytes]:
    """PEP 503 routes under /simple/ for {project: (file name, wheel)}."""
    routes: dict[str, bytes] = {}
    for project, (filename, data) in wheels.items():
        digest = hashlib.sha256(data).hexdigest()
        link = f'<a href="/files/{filename}#sha256={digest}">{filename}</a>'
        page = f"<html><body>{link}</body></html>"
        routes[f"/simple/{project}/"] = page.encode()
        routes[f"/files/{filename}"] = data
    return routes


def npm_registry(base: str, packages: dict[str, tuple[str, bytes]]) -> dict[str, bytes]:
    """npm registry routes for {name: (version, tarball)}; `base` is the registry's URL."""
    routes: dict[str, bytes] = {}
    for name, (version, tarball) in packages.items():
        url = f"{base.rstrip('/')}/{name}/-/{name}-{version}.tgz"
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
        manifest = {"name": name, "version": version, "main": "index.js"}
        document = {
            "name": name,
            "dist-tags": {"latest": version},
            "versions": {
                version: manifest
                | {
                    "dist": {
                        "tarball": url,
                        "shasum": hashlib.sha1(tarball).hexdigest(),  # noqa: S324 - npm's field
                        "integrity": integrity,
                    }
                }
            },
        }
        routes[f"/{name}"] = json.dumps(document).encode()
        routes[f"/{name}/-/{name}-{version}.tgz"] = tarball
    return routes


def server_environment(routes: dict[str, bytes]) -> dict[str, str]:
    """The stand-in server's environment for `routes`."""
    return {"ROUTES": json.dumps({k: base64.b64encode(v).decode() for k, v in routes.items()})}
