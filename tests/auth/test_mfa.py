"""The second factor (A5): TOTP enrolment and confirmation, recovery codes, verification that
marks the device session, replay refusal, lockout, and what is kept (sealed secret, hashed
codes)."""

from __future__ import annotations

import httpx
import pyotp
import pytest
from sqlalchemy import select

from offcoder.auth.models import MfaRecoveryCode, MfaTotp
from offcoder.context import AppContext
from tests.support.mfa import enrolled, next_code
from tests.support.signin import sign_in

pytestmark = pytest.mark.promise("A5")


async def test_verification_gives_an_mfa_token_and_marks_the_session(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await sign_in(api)
    assert context.signer.verify(user.access_token).mfa is False
    totp, codes = await enrolled(api, user)
    assert len(codes) == 10 and len(set(codes)) == 10

    verified = await api.post(
        "/v1/auth/mfa/verify", headers=user.headers, json={"code": next_code(totp)}
    )
    assert verified.status_code == 200, verified.text
    token = verified.json()["access_token"]
    assert context.signer.verify(token).amr == ("oauth", "mfa")
    # The device session keeps it: a refreshed token carries mfa too.
    refreshed = await api.post(
        "/v1/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": user.refresh_token},
    )
    assert context.signer.verify(refreshed.json()["access_token"]).mfa is True
    # Another device session of the same user has not proved anything.
    other_device = await sign_in(api, user.subject)
    assert context.signer.verify(other_device.access_token).mfa is False


async def test_a_code_cannot_be_replayed_even_within_its_window(api: httpx.AsyncClient) -> None:
    user = await sign_in(api)
    totp, _ = await enrolled(api, user)
    code = next_code(totp)
    first = await api.post("/v1/auth/mfa/verify", headers=user.headers, json={"code": code})
    assert first.status_code == 200, first.text
    again = await api.post("/v1/auth/mfa/verify", headers=user.headers, json={"code": code})
    assert again.status_code == 400
    assert again.json()["type"].endswith("/mfa-refused")
    # The confirmation code was spent as well (it is of an earlier step than the one just used).
    older = await api.post("/v1/auth/mfa/verify", headers=user.headers, json={"code": totp.now()})
    assert older.status_code == 400


async def test_a_recovery_code_works_once(api: httpx.AsyncClient, context: AppContext) -> None:
    user = await sign_in(api)
    _, codes = await enrolled(api, user)
    used = await api.post(
        "/v1/auth/mfa/verify", headers=user.headers, json={"recovery_code": codes[3].upper()}
    )
    assert used.status_code == 200, used.text
    assert context.signer.verify(used.json()["access_token"]).mfa is True
    again = await api.post(
        "/v1/auth/mfa/verify", headers=user.headers, json={"recovery_code": codes[3]}
    )
    assert again.status_code == 400


async def test_wrong_codes_lock_verification_and_are_audited(api: httpx.AsyncClient) -> None:
    user = await sign_in(api)
    totp, _ = await enrolled(api, user)
    right = next_code(totp)
    wrong = "000000" if right != "000000" else "111111"
    answers = [
        (await api.post("/v1/auth/mfa/verify", headers=user.headers, json={"code": wrong}))
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 429]
    assert answers[-1].headers["retry-after"]
    # Locked: even the right code is refused now.
    locked = await api.post("/v1/auth/mfa/verify", headers=user.headers, json={"code": right})
    assert locked.status_code == 429
    assert locked.json()["type"].endswith("/mfa-locked")


async def test_what_is_kept_is_sealed_or_hashed(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await sign_in(api)
    started = (await api.post("/v1/auth/mfa/totp", headers=user.headers)).json()
    totp = pyotp.TOTP(started["secret"])
    codes = (
        await api.post("/v1/auth/mfa/totp/confirm", headers=user.headers, json={"code": totp.now()})
    ).json()["recovery_codes"]
    async with context.database.system_session() as s:
        factor = (await s.scalars(select(MfaTotp))).all()
        hashes = [r.code_hash for r in (await s.scalars(select(MfaRecoveryCode))).all()]
    assert factor and all(started["secret"].encode() not in f.secret_enc for f in factor)
    for code in codes:
        assert code not in hashes
        assert all(code not in h for h in hashes)


async def test_bad_requests_are_clear_and_change_nothing(api: httpx.AsyncClient) -> None:
    user = await sign_in(api)
    nothing = await api.post("/v1/auth/mfa/verify", headers=user.headers, json={"code": "123456"})
    assert nothing.status_code == 409  # no factor yet
    early = await api.post(
        "/v1/auth/mfa/totp/confirm", headers=user.headers, json={"code": "123456"}
    )
    assert early.status_code == 409  # nothing to confirm
    for body in ({"code": "12345"}, {"code": "abcdef"}, {}, {"code": "123456", "x": 1}):
        refused = await api.post("/v1/auth/mfa/totp/confirm", headers=user.headers, json=body)
        assert refused.status_code == 422, body
    both = await api.post(
        "/v1/auth/mfa/verify",
        headers=user.headers,
        json={"code": "123456", "recovery_code": "aaaaa-bbbbb-ccccc-ddddd"},
    )
    assert both.status_code == 422
    assert (await api.post("/v1/auth/mfa/totp")).status_code == 401

    totp, _ = await enrolled(api, user)
    again = await api.post("/v1/auth/mfa/totp", headers=user.headers)
    assert again.status_code == 409  # already on: no silent replacement of the secret
    wrong_confirm = await api.post(
        "/v1/auth/mfa/totp/confirm", headers=user.headers, json={"code": totp.now()}
    )
    assert wrong_confirm.status_code == 409


async def test_the_export_tells_the_state_never_the_secret(api: httpx.AsyncClient) -> None:
    user = await sign_in(api)
    before = (await api.get("/v1/me/export", headers=user.headers)).json()
    assert before["mfa"] == {"totp": "off", "confirmed_at": None, "recovery_codes_left": 0}
    totp, codes = await enrolled(api, user)
    await api.post("/v1/auth/mfa/verify", headers=user.headers, json={"recovery_code": codes[0]})
    export = await api.get("/v1/me/export", headers=user.headers)
    body = export.json()
    assert body["mfa"]["totp"] == "on" and body["mfa"]["recovery_codes_left"] == 9
    assert totp.secret not in export.text
    assert all(code not in export.text for code in codes)
