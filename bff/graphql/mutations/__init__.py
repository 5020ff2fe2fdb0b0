"""The Mutation root: one class of mutations per domain (a module each), merged."""

from __future__ import annotations

from strawberry.tools import merge_types

from bff.graphql.mutations.notifications import NotificationMutations

Mutation = merge_types("Mutation", (NotificationMutations,))
