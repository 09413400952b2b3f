"""The examples of the original package's docs, unchanged apart from the import path.

Each test body is the seed docs' code; the surrounding setup (Foo, views, the
content object) is what the docs assume exists.
"""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import isolate_apps

from audit_events import AuditContext, AuditContextMixin
from audit_events.middleware import AuditEventsMiddleware
from audit_events.models import AuditEvent
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

Foo = None  # defined per test by the foo_pk_1 fixture


def _define_foo():
    class Foo(Article, AuditContextMixin):
        """The docs' ``class Foo(models.Model, AuditContextMixin)`` (a proxy of a test model)."""

        class Meta:
            proxy = True
            app_label = "testapp"

        def my_method(self):
            self.audit_context.create_event(self, something="done")

    return Foo


@pytest.fixture
def foo_pk_1():
    """``Foo.objects.get(pk=1)`` as the docs assume, in an isolated app registry."""
    global Foo
    with isolate_apps("tests.testapp"):
        Foo = _define_foo()
        Foo.objects.create(pk=1, title="foo")
        yield
    del Foo


def _request():
    request = RequestFactory().get("/awesome/")
    request.user = None
    AuditEventsMiddleware(lambda r: HttpResponse())(request)
    return request


def awesome_view(request, *args, **kwargs):
    foo_obj = Foo.objects.get(pk=1)
    # Do something with foo_obj...
    request.audit_context.create_event(foo_obj, something="done", bar="baz")


def test_quick_start_view_example(foo_pk_1):
    awesome_view(_request())
    event = AuditEvent.objects.get()
    assert event.content == {"something": "done", "bar": "baz"}
    assert event.url == "http://testserver/awesome/"
    assert event.content_object.pk == 1


def my_function(arg1, arg2, audit_context=AuditContext(), *args, **kwargs):  # noqa: B008
    foo_obj = Foo.objects.get(pk=1)
    # Do something with foo_obj...
    audit_context.create_event(foo_obj, something="done", bar="baz")


def test_quick_start_argument_example(foo_pk_1):
    my_function(1, 2)
    my_function(1, 2, audit_context=_request().audit_context)
    assert [e.url for e in AuditEvent.objects.order_by("timestamp")] == [
        "",
        "http://testserver/awesome/",
    ]


def test_quick_start_mixin_example(foo_pk_1):
    request = _request()
    foo_obj = Foo.objects.get(pk=1)
    foo_obj.audit_context = request.audit_context
    foo_obj.my_method()
    assert AuditEvent.objects.get().url == "http://testserver/awesome/"


def test_mixin_without_assigned_context_still_records(foo_pk_1):
    Foo.objects.get(pk=1).my_method()
    assert AuditEvent.objects.get().content == {"something": "done"}


def test_advanced_common_content_example(foo_pk_1):
    audit_context = AuditContext()
    audit_context.extra_data["foo"] = "bar"
    event = audit_context.new_event()
    assert event.content["foo"] == "bar"


def test_advanced_override_content_example(foo_pk_1):
    content_object = Foo.objects.get(pk=1)
    audit_context = AuditContext()
    audit_context.extra_data["foo"] = "bar"
    event = audit_context.create_event(content_object, foo="baz")
    assert event.content["foo"] == "baz"
