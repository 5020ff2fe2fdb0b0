"""A resumable upload of the viewer: which chunks arrived, and what it became once complete."""

from __future__ import annotations

from datetime import datetime

import strawberry

from proto.datasets import UploadSession


@strawberry.type
class Upload:
    """Send its chunks over REST (`PUT /api/v1/uploads/{uploadId}/chunks/{index}`, binary),
    then complete it with the `completeUpload` mutation."""

    upload_id: strawberry.ID
    filename: str
    size: int
    chunk_size: int
    chunk_count: int
    received_chunks: list[int]
    status: str
    expires_at: datetime
    dataset_id: strawberry.ID | None
    version: int | None

    @classmethod
    def from_model(cls, upload: UploadSession) -> Upload:
        """From an `UploadSession` as the datasets service answers it."""
        dataset_id = upload.dataset_id
        return cls(
            upload_id=strawberry.ID(str(upload.upload_id)),
            filename=upload.filename,
            size=upload.size,
            chunk_size=upload.chunk_size,
            chunk_count=upload.chunk_count,
            received_chunks=list(upload.received_chunks),
            status=upload.status,
            expires_at=upload.expires_at,
            dataset_id=strawberry.ID(str(dataset_id)) if dataset_id is not None else None,
            version=upload.version,
        )
