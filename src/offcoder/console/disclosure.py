"""The published vulnerability disclosure policy (V1), the page security.txt's Policy names."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from offcoder.auth.dependencies import Context
from offcoder.config import DISCLOSURE_PATH
from offcoder.web.origins import public_host

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)


def contact_link(contact: str) -> dict[str, str]:
    """A security.txt contact URI as a link a person reads: the address, not its scheme."""
    scheme, _, rest = contact.partition(":")
    label = rest if scheme in ("mailto", "tel") else contact
    return {"href": contact, "label": label}


@router.get(DISCLOSURE_PATH, response_class=HTMLResponse)
async def disclosure_policy(request: Request, ctx: Context) -> HTMLResponse:
    """How to report a vulnerability and the response times we commit to."""
    settings = ctx.settings
    return templates.TemplateResponse(
        request,
        "disclosure.html",
        {
            "signed_in": False,
            "contacts": [contact_link(contact) for contact in settings.security_contacts],
            "public_host": public_host(settings.public_url),
            "preview_domain": settings.preview_domain,
        },
    )
