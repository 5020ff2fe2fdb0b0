from bff.auth.passwords import Passwords


async def test_a_hash_verifies_its_password_only() -> None:
    passwords = Passwords(time_cost=1, memory_kib=1024, parallelism=1)
    stored = await passwords.hash("s3cret password")

    assert "s3cret" not in stored
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, "s3cret password")
    assert not await passwords.verify(stored, "S3cret password")


async def test_a_missing_hash_never_verifies() -> None:
    passwords = Passwords(time_cost=1, memory_kib=1024, parallelism=1)

    assert not await passwords.verify(None, "decoy password that matches nothing")


async def test_hashes_made_with_weaker_parameters_need_a_rehash() -> None:
    weak = Passwords(time_cost=1, memory_kib=1024, parallelism=1)
    strong = Passwords(time_cost=2, memory_kib=2048, parallelism=1)

    assert strong.needs_rehash(await weak.hash("s3cret password"))
