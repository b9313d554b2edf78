"""Errors a service reports to its client, each with the HTTP status it maps to."""

from __future__ import annotations

from ..errors import CnnvisError


class ServiceError(CnnvisError):
    status = 400


class BadRequest(ServiceError):
    status = 400


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class PayloadTooLarge(ServiceError):
    status = 413


class TooManyJobs(ServiceError):
    status = 429
