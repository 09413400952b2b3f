"""AuditContextMixin: a blank context per instance; None and non-contexts are refused."""

import copy
import pickle

import pytest
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from audit_events import AuditContextMixin
from audit_events.context import AuditContext
from audit_events.middleware import AuditEventsMiddleware


class Service(AuditContextMixin):
    pass


def test_each_instance_gets_its_own_blank_context():
    first, second = Service(), Service()
    first.audit_context.extra_data["who"] = "first"
    assert isinstance(second.audit_context, AuditContext)
    assert second.audit_context is not first.audit_context
    assert second.audit_context.extra_data == {}
    assert first.audit_context is first.audit_context


def test_assigned_context_is_used():
    service, context = Service(), AuditContext(url="/x")
    service.audit_context = context
    assert service.audit_context is context


def test_request_context_from_the_middleware_can_be_assigned():
    request = RequestFactory().get("/")
    request.user = None
    AuditEventsMiddleware(lambda r: None)(request)
    service = Service()
    service.audit_context = request.audit_context
    assert service.audit_context.url == "http://testserver/"


def test_assigning_none_raises_value_error():
    with pytest.raises(ValueError, match="None"):
        Service().audit_context = None


@pytest.mark.parametrize("value", [{}, "context", 1, SimpleLazyObject(lambda: "x")])
def test_assigning_a_non_context_raises_type_error(value):
    with pytest.raises(TypeError, match="AuditContext"):
        Service().audit_context = value


def test_instances_with_contexts_can_be_copied_and_pickled():
    service = Service()
    service.audit_context.extra_data["a"] = 1
    restored = pickle.loads(pickle.dumps(service))
    assert restored.audit_context.extra_data == {"a": 1}
    assert copy.deepcopy(service).audit_context.extra_data == {"a": 1}
