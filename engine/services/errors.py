"""Service-layer errors. Entry points map them to exit codes (CLI) or HTTP problem details (API)."""


class ServiceError(Exception):
    """Base: a request the rules refuse. The message names the field or rule."""

    status = 400


class Invalid(ServiceError):
    """The input breaks a rule (unknown id, missing field, 容缺 not allowed …)."""

    status = 422


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    """The request does not fit the current state (task not ready, already done, changed meanwhile)."""

    status = 409
