from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bff.app import MIGRATIONS_DIR, build_auth_service
from bff.auth.access_tokens import AccessTokens
from bff.auth.service import AuthService
from services.kit.database import Database
from services.kit.errors import Action, ApiError
from services.kit.migrations import upgrade_to_head
from tests.support.bff_accounts import JWT_SECRET, PASSWORD, bff_settings


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bff.db'}")
    await upgrade_to_head(db, MIGRATIONS_DIR)
    yield db
    await db.dispose()


@pytest.fixture
def auth(tmp_path: Path, database: Database) -> AuthService:
    settings = bff_settings(tmp_path)
    service = build_auth_service(settings, _RuntimeStub(database))  # type: ignore[arg-type]
    return service


class _RuntimeStub:
    """Only the database of a runtime: the auth service needs nothing else."""

    def __init__(self, db: Database) -> None:
        self.db = db


async def _code_of(call: object) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        await call  # type: ignore[misc]
    return caught.value.status, caught.value.code


async def test_register_then_login_gives_tokens_for_the_same_user(auth: AuthService) -> None:
    registered = await auth.register("  Ada@Example.com ", PASSWORD, "phone-1")
    logged_in = await auth.login("ada@example.com", PASSWORD, "phone-2")

    assert registered.user.email == "ada@example.com"
    assert logged_in.user.id == registered.user.id
    assert registered.user.password_hash != PASSWORD
    me = await auth.authenticate(logged_in.access_token)
    assert (me.user_id, me.device_id) == (registered.user.id, "phone-2")


async def test_an_email_registers_once(auth: AuthService) -> None:
    await auth.register("ada@example.com", PASSWORD, None)

    assert await _code_of(auth.register("ADA@example.com", PASSWORD, None)) == (409, "EMAIL_TAKEN")


async def test_weak_passwords_and_bad_emails_are_refused(auth: AuthService) -> None:
    assert await _code_of(auth.register("ada@example.com", "short", None)) == (
        422,
        "PASSWORD_TOO_SHORT",
    )
    assert await _code_of(auth.register("not-an-email", PASSWORD, None)) == (422, "INVALID_EMAIL")


async def test_wrong_password_and_unknown_email_answer_alike(auth: AuthService) -> None:
    await auth.register("ada@example.com", PASSWORD, None)

    wrong = await _code_of(auth.login("ada@example.com", "wrong password", None))
    unknown = await _code_of(auth.login("bob@example.com", PASSWORD, None))

    assert wrong == unknown == (401, "INVALID_CREDENTIALS")


async def test_an_expired_access_token_answers_token_expired(auth: AuthService) -> None:
    pair = await auth.register("ada@example.com", PASSWORD, "phone-1")
    me = await auth.authenticate(pair.access_token)
    expired = AccessTokens(JWT_SECRET, ttl_s=-60).mint(me.user_id, me.session_id, "phone-1")

    with pytest.raises(ApiError) as caught:
        await auth.authenticate(expired)

    assert (caught.value.status, caught.value.code) == (401, "TOKEN_EXPIRED")
    assert caught.value.action == Action.REFRESH_TOKEN


async def test_refresh_rotates_the_pair_and_keeps_the_session(auth: AuthService) -> None:
    first = await auth.register("ada@example.com", PASSWORD, "phone-1")

    second = await auth.refresh(first.refresh_token, "phone-1")
    third = await auth.refresh(second.refresh_token, None)

    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    sessions = {
        (await auth.authenticate(pair.access_token)).session_id for pair in (first, second, third)
    }
    assert len(sessions) == 1


async def test_reusing_a_refresh_token_ends_the_whole_family(auth: AuthService) -> None:
    first = await auth.register("ada@example.com", PASSWORD, "phone-1")
    second = await auth.refresh(first.refresh_token, "phone-1")

    assert await _code_of(auth.refresh(first.refresh_token, "phone-1")) == (
        401,
        "REFRESH_TOKEN_REUSED",
    )
    # The rotated token and the access tokens of the family are dead too.
    assert await _code_of(auth.refresh(second.refresh_token, "phone-1")) == (401, "SESSION_REVOKED")
    assert await _code_of(auth.authenticate(second.access_token)) == (401, "SESSION_REVOKED")


async def test_another_session_survives_a_reuse(auth: AuthService) -> None:
    phone = await auth.register("ada@example.com", PASSWORD, "phone-1")
    tablet = await auth.login("ada@example.com", PASSWORD, "tablet-1")
    await auth.refresh(phone.refresh_token, "phone-1")

    await _code_of(auth.refresh(phone.refresh_token, "phone-1"))

    assert (await auth.authenticate(tablet.access_token)).device_id == "tablet-1"


async def test_a_refresh_token_from_another_device_is_refused(auth: AuthService) -> None:
    pair = await auth.register("ada@example.com", PASSWORD, "phone-1")

    assert await _code_of(auth.refresh(pair.refresh_token, "phone-2")) == (401, "DEVICE_MISMATCH")


async def test_unknown_refresh_tokens_are_invalid(auth: AuthService) -> None:
    assert await _code_of(auth.refresh("made-up", None)) == (401, "REFRESH_TOKEN_INVALID")


async def test_logout_ends_the_session(auth: AuthService) -> None:
    pair = await auth.register("ada@example.com", PASSWORD, "phone-1")
    me = await auth.authenticate(pair.access_token)

    await auth.logout(me.session_id)

    assert await _code_of(auth.authenticate(pair.access_token)) == (401, "SESSION_REVOKED")
    assert await _code_of(auth.refresh(pair.refresh_token, "phone-1")) == (401, "SESSION_REVOKED")


async def test_signing_in_again_on_a_device_ends_its_earlier_session(auth: AuthService) -> None:
    old = await auth.register("ada@example.com", PASSWORD, "phone-1")
    new = await auth.login("ada@example.com", PASSWORD, "phone-1")

    assert await _code_of(auth.authenticate(old.access_token)) == (401, "SESSION_REVOKED")
    assert (await auth.authenticate(new.access_token)).device_id == "phone-1"
