"""The documents an app build uploads, checked as /graphql checks a request's before running
it: each parses within the token limit and validates against the schema under the same rules
(depth, aliases, no introspection in production). One that would be refused at run time is
refused at upload, naming it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from graphql import (
    ASTValidationRule,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    specified_rules,
    validate,
)

# Enough to say what is wrong with one document without flooding the answer.
_ERRORS_PER_DOCUMENT = 5


def sha256_hex(text: str) -> str:
    """The hash APQ names a document by: SHA-256 of its UTF-8 text, in lowercase hex."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    sha256: str
    text: str
    operations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DocumentProblem:
    """Why the document at `index` of the upload cannot be safelisted."""

    index: int
    sha256: str
    operations: tuple[str, ...]
    errors: tuple[str, ...]

    def as_details(self) -> dict[str, object]:
        return {
            "index": self.index,
            "sha256": self.sha256,
            "operations": list(self.operations),
            "errors": list(self.errors),
        }


class DocumentChecker:
    """Parses and validates documents against one schema and its rules."""

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        max_tokens: int,
        max_bytes: int,
    ) -> None:
        self._schema = schema
        self._rules = (*specified_rules, *rules)
        self._max_tokens = max_tokens
        self.max_bytes = max_bytes

    def check(self, index: int, text: str) -> CheckedDocument | DocumentProblem:
        """The document ready to store, or what is wrong with it."""
        sha256 = sha256_hex(text)
        size = len(text.encode())
        if size > self.max_bytes:
            return DocumentProblem(
                index, sha256, (), (f"{size} bytes, over the limit of {self.max_bytes}",)
            )
        try:
            document = parse(text, no_location=True, max_tokens=self._max_tokens)
        except GraphQLError as exc:
            return DocumentProblem(index, sha256, (), (exc.message,))
        operations = tuple(
            definition.name.value if definition.name else ""
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        )
        errors = validate(self._schema, document, self._rules, max_errors=_ERRORS_PER_DOCUMENT)
        if not operations:
            errors = [GraphQLError("the document holds no operation"), *errors]
        if errors:
            messages = tuple(error.message for error in errors[:_ERRORS_PER_DOCUMENT])
            return DocumentProblem(index, sha256, operations, messages)
        return CheckedDocument(sha256, text, operations)
