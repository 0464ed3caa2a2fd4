"""Messaging URLs: the notification link and the pages of the personal portal."""

from django.urls import path

from . import views

app_name = "messaging"
urlpatterns = [
    path("m/<str:token>/", views.open_link, name="link"),
    path("check/", views.check_notification, name="check"),
    path("messages/new/", views.compose, name="compose"),
    path("messages/sent/", views.sent, name="sent"),
    path("messages/deleted/", views.deleted, name="deleted"),
    path("messages/deleted/empty/", views.empty_deleted, name="empty_deleted"),
    path("messages/<uuid:public_id>/", views.message_detail, name="message"),
    path("messages/<uuid:public_id>/print/", views.print_view, name="print"),
    path("messages/<uuid:public_id>/reply/", views.reply, name="reply"),
    path("messages/<uuid:public_id>/reply-all/", views.reply, {"everyone": True}, name="reply_all"),
    path("messages/move/", views.move, name="move_many"),
    path("messages/<uuid:public_id>/unread/", views.mark_unread, name="mark_unread"),
    path("messages/<uuid:public_id>/revoke/", views.revoke, name="revoke"),
    path("messages/<uuid:public_id>/extend/", views.extend, name="extend"),
    path(
        "messages/<uuid:public_id>/resend/<int:recipient_id>/",
        views.resend,
        name="resend",
    ),
    path(
        "messages/<uuid:public_id>/attachments/<uuid:attachment_id>/",
        views.download,
        name="download",
    ),
    path(
        "messages/<uuid:public_id>/images/<uuid:attachment_id>/",
        views.inline_image,
        name="inline_image",
    ),
]
