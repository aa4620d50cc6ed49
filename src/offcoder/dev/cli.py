"""`offcoder dev token`: sign in to a local `serve --dev` server from the terminal."""

from __future__ import annotations

import json
import secrets
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import httpx
import typer

from offcoder.auth.pkce import pkce_challenge

app = typer.Typer(no_args_is_help=True)

REDIRECT_URI = "offcoder://auth/callback"


@app.command()
def token(
    subject: Annotated[str, typer.Option(help="Who to sign in as at the development provider.")],
    server: Annotated[str, typer.Option(help="The OffCoder server.")] = "http://127.0.0.1:8000",
    device_name: Annotated[str, typer.Option(help="Name of the device session.")] = "terminal",
) -> None:
    """Run the whole sign-in (PKCE, provider consent, code exchange) and print the tokens."""
    verifier = secrets.token_urlsafe(48)
    challenge = pkce_challenge(verifier)
    state = secrets.token_urlsafe(8)
    with httpx.Client(base_url=server, follow_redirects=False, timeout=15) as api:
        start = api.get(
            "/v1/auth/oidc/authorize",
            params={
                "redirect_uri": REDIRECT_URI,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "device_name": device_name,
            },
        )
        if start.status_code != 302:
            raise typer.BadParameter(f"the server refused to start a sign-in: {start.text}")
        consent = httpx.post(start.headers["location"], data={"sub": subject}, timeout=15)
        if consent.status_code != 302:
            raise typer.BadParameter("the development provider did not sign in; is it --dev?")
        callback = urlsplit(consent.headers["location"])
        back = api.get(f"{callback.path}?{callback.query}")
        landing = parse_qs(urlsplit(back.headers.get("location", "")).query)
        if "code" not in landing or landing.get("state") != [state]:
            raise typer.BadParameter(f"sign-in failed: {back.text or landing}")
        issued = api.post(
            "/v1/auth/token",
            json={
                "grant_type": "authorization_code",
                "code": landing["code"][0],
                "code_verifier": verifier,
            },
        )
        issued.raise_for_status()
    typer.echo(json.dumps(issued.json(), indent=2))
