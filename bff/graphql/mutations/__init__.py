"""The Mutation root: one class of mutations per domain (a module each), merged.

Each mutation takes `input` and answers a payload with the changed object and `userErrors`
(see `user_errors`); REST writes with binary bodies (upload chunks, ONNX files) stay REST."""

from __future__ import annotations

from strawberry.tools import merge_types

from bff.graphql.mutations.datasets import DatasetMutations
from bff.graphql.mutations.models import ModelMutations
from bff.graphql.mutations.notifications import NotificationMutations
from bff.graphql.mutations.push_settings import PushSettingsMutations
from bff.graphql.mutations.sessions import SessionMutations
from bff.graphql.mutations.training import TrainingMutations

Mutation = merge_types(
    "Mutation",
    (
        DatasetMutations,
        TrainingMutations,
        ModelMutations,
        NotificationMutations,
        PushSettingsMutations,
        SessionMutations,
    ),
)
