"""Settings of a service that keeps files (datasets, inference), and the store they name.

Its own module, not services/kit/settings.py: every process imports that one, and only the
services that keep files may reach the S3 client (tests/infra/test_images.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from services.kit.file_store import FileStore, LocalFileStore
from services.kit.settings import ServiceSettings


class FileStoreSettings(ServiceSettings):
    """Settings of a service that keeps files in a store (`build_file_store`)."""

    # Unset: files live under the data dir, seen by this process only. `s3://bucket/prefix`:
    # an S3-compatible bucket every replica reaches; the endpoint is unset for AWS itself,
    # and unset credentials use the AWS chain (AWS_* variables, web identity, instance role).
    store_url: str | None = Field(default=None, pattern=r"^s3://[^/]+(/.*)?$")
    store_endpoint_url: str | None = None
    store_region: str | None = None
    store_access_key_id: str | None = None
    store_secret_access_key: SecretStr | None = None
    # Uploads go in parts of this size, one part in memory at a time (S3: 5 MiB at least).
    store_part_size_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)

    @field_validator(
        "store_url",
        "store_endpoint_url",
        "store_region",
        "store_access_key_id",
        "store_secret_access_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose and k8s pass an unset optional value as an empty string.
        return None if value == "" else value

    @model_validator(mode="after")
    def _store_credentials_in_pairs(self) -> FileStoreSettings:
        if (self.store_access_key_id is None) != (self.store_secret_access_key is None):
            prefix = str(self.model_config.get("env_prefix", "")).upper()
            raise ValueError(
                f"{prefix}STORE_ACCESS_KEY_ID and {prefix}STORE_SECRET_ACCESS_KEY go together"
            )
        return self


def build_file_store(settings: FileStoreSettings, local_dir: Path) -> FileStore:
    """The S3-compatible store `settings.store_url` names, else a local directory."""
    if not settings.store_url:
        return LocalFileStore(local_dir)
    # Imported here: botocore costs a process that keeps files locally ~0.4 s of start-up.
    from services.kit.s3_file_store import S3Connection, S3FileStore, S3Location

    secret = settings.store_secret_access_key
    connection = S3Connection(
        endpoint_url=settings.store_endpoint_url,
        region=settings.store_region,
        access_key_id=settings.store_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
    )
    return S3FileStore(
        S3Location.parse(settings.store_url), connection, settings.store_part_size_bytes
    )
