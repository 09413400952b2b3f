"""Small views that record audit events, used by the request-facing tests."""

import json

from django.contrib.auth import get_user_model
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.authentication import BaseAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.testapp.models import Article


def _article():
    return Article.objects.get_or_create(title="audited")[0]


def _event_response(event):
    return JsonResponse({"event": str(event.pk)})


@csrf_exempt
def record(request):
    """Record one event about the 'audited' article."""
    return _event_response(request.audit_context.create_event(_article(), action="record"))


@csrf_exempt
def record_then_read_body(request):
    """Record an event first, then read the body the way a JSON API view does."""
    event = request.audit_context.create_event(_article(), action="body")
    data = json.loads(request.body or b"{}")
    return JsonResponse({"event": str(event.pk), "echo": data})


@csrf_exempt
def record_then_read_files(request):
    """Record an event first, then read an uploaded file."""
    event = request.audit_context.create_event(_article(), action="upload")
    upload = request.FILES["upload"]
    return JsonResponse(
        {"event": str(event.pk), "size": len(upload.read()), "title": request.POST.get("title")}
    )


@csrf_exempt
def stream_then_record(request):
    """Consume the body as a stream, then record an event."""
    size = len(request.read())
    event = request.audit_context.create_event(_article(), action="stream")
    return JsonResponse({"event": str(event.pk), "size": size})


def login_in_view(request):
    """Authenticate inside the view, as token/JWT authentication does."""
    request.user = get_user_model().objects.get(username=request.GET["as"])
    return _event_response(request.audit_context.create_event(_article(), action="login"))


def no_event(request):
    """A view that never touches the audit context."""
    return HttpResponse("ok")


async def async_record(request):
    """An async view recording through the async API."""
    article = await Article.objects.aget_or_create(title="audited")
    event = await request.audit_context.acreate_event(article[0], action="async")
    return JsonResponse({"event": str(event.pk)})


class HeaderTokenAuthentication(BaseAuthentication):
    """DRF authentication by a username in the X-Test-User header (a stand-in for tokens)."""

    def authenticate(self, request):
        username = request.META.get("HTTP_X_TEST_USER")
        if not username:
            return None
        return get_user_model().objects.get(username=username), None


class DrfRecordView(APIView):
    authentication_classes = [HeaderTokenAuthentication]
    permission_classes = []

    def post(self, request):
        event = request.audit_context.create_event(_article(), action="drf")
        return Response({"event": str(event.pk)})
