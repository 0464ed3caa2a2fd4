"""/api/v1/ and the schema (/api/schema/) with its documentation (/api/docs/, served from here)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views

docs = SpectacularSwaggerSplitView.as_view(url_name="api_schema")

urlpatterns = [
    path("v1/messages/", views.MessageList.as_view(), name="api_messages"),
    path("v1/messages/<str:public_id>/", views.MessageDetail.as_view(), name="api_message"),
    path("v1/messages/<str:public_id>/recall/", views.Recall.as_view(), name="api_recall"),
    path("v1/messages/<str:public_id>/extend/", views.Extend.as_view(), name="api_extend"),
    path(
        "v1/messages/<str:public_id>/recipients/<str:recipient_id>/resend/",
        views.Resend.as_view(),
        name="api_resend",
    ),
    path("v1/audit/", views.AuditPull.as_view(), name="api_audit"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # Swagger UI sets a few inline styles: allowed on this page only (its scripts stay the portal's own).
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api_schema")
        ),
        name="api_docs",
    ),
]
