"""Failures a use case reports; the HTTP edge maps each kind to a status code."""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """The thing does not exist in the caller's organization (404)."""


class InvalidInput(ServiceError):
    """The input is well-formed but not acceptable (400)."""


class Conflict(ServiceError):
    """The change collides with the current state (a name taken, a version changed meanwhile) (409)."""


class Unprocessable(ServiceError):
    """The input is valid but the work it asks for produced no result (an evaluator that gave no
    score) (422)."""
