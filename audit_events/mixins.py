"""``AuditContextMixin``: an ``audit_context`` attribute that always holds a context.

The original mixin kept one class-level ``AuditContext()`` shared by every
instance (and, through its class-level ``extra_data``, every context). Here
each instance gets its own blank context, created on first access.
"""

from __future__ import annotations

from typing import Any

from audit_events.context import AuditContext

__all__ = ["AuditContextMixin"]

_ATTRIBUTE = "_audit_events_context"


class AuditContextMixin:
    """Gives instances an ``audit_context`` (blank until a context is assigned).

    Assign a request's context before calling code that records events::

        foo.audit_context = request.audit_context

    Works on models (``class Foo(models.Model, AuditContextMixin)``) and
    plain classes; the context is not a model field and is never saved.
    """

    @property
    def audit_context(self) -> AuditContext:
        """This instance's context; a blank ``AuditContext()`` unless one was assigned."""
        context = self.__dict__.get(_ATTRIBUTE)
        if context is None:
            context = AuditContext()
            self.__dict__[_ATTRIBUTE] = context
        return context

    @audit_context.setter
    def audit_context(self, value: Any) -> None:
        """Assign a context.

        Raises:
            ValueError: ``value`` is ``None``.
            TypeError: ``value`` is not an ``AuditContext``.
        """
        if value is None:
            raise ValueError("audit_context cannot be None; assign an AuditContext")
        if not isinstance(value, AuditContext):
            raise TypeError(f"audit_context must be an AuditContext; got {type(value).__name__}")
        self.__dict__[_ATTRIBUTE] = value
