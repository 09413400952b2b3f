from django.contrib import admin
from django.urls import include, path, re_path

from tests import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("record/", views.record),
    path("record/body/", views.record_then_read_body),
    path("record/files/", views.record_then_read_files),
    path("record/stream/", views.stream_then_record),
    path("record/login/", views.login_in_view),
    path("record/async/", views.async_record),
    path("record/drf/", views.DrfRecordView.as_view()),
    path("no-event/", views.no_event),
    # Any path below record-any/ records an event: hostile paths reach the middleware.
    re_path(r"^record-any/", views.record),
]

# --- Read API (audit_events.rest; ecosystem) ---------------------------------
urlpatterns += [path("api/audit/", include("audit_events.rest.urls"))]
# --- end of read API -----------------------------------------------------------
