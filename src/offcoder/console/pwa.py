"""The console as an app a phone installs: its manifest, its service worker and the page the
worker shows when the network is gone.

The worker keeps the shell (stylesheets, scripts, icons, the offline page) and never a signed-in
page or an API answer: what is cached on a shared phone must hold nothing of anyone's account.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/console", include_in_schema=False)

ICONS = "/console/static/icons"
MANIFEST = {
    "name": "OffCoder",
    "short_name": "OffCoder",
    "description": "Write, run and share code from your phone.",
    "id": "/console/",
    "start_url": "/console/projects",
    "scope": "/console/",
    "display": "standalone",
    "orientation": "any",
    "background_color": "#0d1117",
    "theme_color": "#0969da",
    "icons": [
        {"src": f"{ICONS}/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": f"{ICONS}/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": f"{ICONS}/maskable-192.png",
            "sizes": "192x192",
            "type": "image/png",
            "purpose": "maskable",
        },
        {
            "src": f"{ICONS}/maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ],
}


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    return JSONResponse(MANIFEST, media_type="application/manifest+json")


@router.get("/sw.js")
async def service_worker() -> Response:
    """Served from /console/ so that its scope is the whole console (a worker's scope is its
    own folder unless a header widens it). Revalidated on every load: a fixed worker would
    keep an old shell after an upgrade."""
    response = FileResponse(HERE / "static" / "build" / "sw.js", media_type="text/javascript")
    response.headers["cache-control"] = "no-cache"
    return response


@router.get("/offline", response_class=HTMLResponse)
async def offline(request: Request) -> Response:
    """What the worker shows when a page cannot be fetched. The same for everyone: no name,
    no project, no token."""
    return templates.TemplateResponse(
        request, "offline.html", {"signed_in": False, "csrf": "", "csrf_field": "", "section": ""}
    )
