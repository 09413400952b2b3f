from django.contrib import admin
from django.urls import include, path

urlpatterns = [path("admin/", admin.site.urls)]

# --- Read API (audit_events.rest; ecosystem) ---------------------------------
urlpatterns += [path("api/audit/", include("audit_events.rest.urls"))]
# --- end of read API -----------------------------------------------------------
