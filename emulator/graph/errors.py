"""The one error the emulator's handlers raise: a Graph error response, as the service writes it."""

from __future__ import annotations

from typing import Any


class GraphError(Exception):
    """An HTTP error with Graph's body: ``{"error": {"code", "message", "details"?}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        detail_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.detail_code = detail_code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["details"] = [
                {"code": self.detail_code or "ObjectConflict", "message": self.message, "target": self.target}
            ]
        return {"error": error}


def conflict(prop: str) -> GraphError:
    return GraphError(
        400,
        "Request_BadRequest",
        f"Another object with the same value for property {prop} already exists.",
        target=prop,
        detail_code="ObjectConflict",
    )


def not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present.",
    )


def read_only(prop: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", f"Property '{prop}' is read-only and cannot be set.")


def bad_request(message: str, *, target: str | None = None) -> GraphError:
    return GraphError(400, "Request_BadRequest", message, target=target, detail_code="InvalidValue")
