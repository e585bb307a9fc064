"""The one exception tree of evsite."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem: where it is and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        """Render as ``path: message`` (or just the message at the top level)."""
        return f"{self.path}: {self.message}" if self.path else self.message


class EvsiteError(Exception):
    """Base of every error evsite raises on purpose."""


class ConfigError(EvsiteError):
    """Invalid configuration or input; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        """Keep all problems; the message lists them one per line."""
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class NotFoundError(EvsiteError):
    """A referenced entity does not exist."""

    def __init__(self, kind: str, entity_id: str) -> None:
        """Name the kind and the id that was not found."""
        self.kind = kind
        self.entity_id = entity_id
        super().__init__(f"{kind} '{entity_id}' not found")


class ConflictError(EvsiteError):
    """The request conflicts with the current state (e.g. delete a used panel)."""

    def __init__(self, message: str, path: str = "") -> None:
        """Describe the conflict; path names the field when there is one."""
        self.path = path
        super().__init__(message)


class AuthError(EvsiteError):
    """Missing or invalid credentials."""


class ForbiddenError(EvsiteError):
    """Authenticated, but the role may not do this."""


class ChargerError(EvsiteError):
    """A charger refused, failed or could not be reached for a command."""


class StorageError(EvsiteError):
    """The database could not be opened, migrated or written."""
