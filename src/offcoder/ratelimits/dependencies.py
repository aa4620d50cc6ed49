"""The request dependencies that count anonymous calls per client address. Route decorators
name them in `dependencies=[...]`, which FastAPI solves before the route's own parameters: a
refused call is answered before any transaction is opened for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from offcoder.context import AppContext, get_context
from offcoder.ratelimits.service import LimitKind, client_address


async def sign_in_limit(request: Request, ctx: Annotated[AppContext, Depends(get_context)]) -> None:
    """A sign-in step by an address nobody has proved anything about yet (review F8)."""
    host = request.client.host if request.client else None
    await ctx.rate_limits.hit(LimitKind.sign_in, client_address(host))


SignInLimited = Depends(sign_in_limit)


async def token_refresh_limit(
    request: Request, ctx: Annotated[AppContext, Depends(get_context)]
) -> None:
    """A refresh-token rotation asked for by a browser (the console's scripts)."""
    host = request.client.host if request.client else None
    await ctx.rate_limits.hit(LimitKind.token_refresh, client_address(host))


TokenRefreshLimited = Depends(token_refresh_limit)
