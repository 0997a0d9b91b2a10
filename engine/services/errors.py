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


class ModelFailure(ServiceError):
    """The deployed model failed while running (a script, condition or timer of a named element): the
    request changed nothing; the administrator finds the failure in the log with the project and element."""

    status = 422

    def __init__(self, message: str, *, element: str | None = None, project_id: str | None = None) -> None:
        super().__init__(message)
        self.element = element
        self.project_id = project_id
