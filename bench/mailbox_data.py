"""Bulk data for the mailbox benchmark: many held messages, made in SQL from one real one (PostgreSQL).

Run inside the portal's Django (manage.py shell). The copies share the template message's
wrapped key and ciphertext: list pages never decrypt, and these copies are never opened.
"""

import time

from django.db import connection

from accounts.models import User, portal_permission
from messaging.holding import hold

PASSWORD = "bench password 42"
OTHERS = 1000  # other people who exchange messages, besides the reader


def _users():
    reader = User.objects.create_user("reader@example.com", password=PASSWORD, name="Rita Reader")
    reader.user_permissions.add(portal_permission())
    User.objects.bulk_create(
        User(email=f"person{i:04d}@example.com", password="!", name=f"Person {i}") for i in range(OTHERS)
    )
    return reader


def fill(to_reader, from_reader, between_others):
    """Messages to the reader, from the reader, and between other people; newest last, every tenth
    subject says 'invoice', one says 'zebra'."""
    start = time.monotonic()
    reader = _users()
    template = hold(  # "Message 0": its number matches no row of the plan below
        sender="person0000@example.com",
        recipients=["person0001@example.com"],
        subject="Message 0",
        source="admin",
    )
    total = to_reader + from_reader + between_others
    every = max(total // max(to_reader, 1), 2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM accounts_user WHERE email LIKE 'person%%'")
        first_other = cursor.fetchone()[0]
        # Each n gets one of three roles, spread evenly over time: to the reader, from the reader, other.
        cursor.execute(
            """
            CREATE TEMP TABLE plan AS
            SELECT n,
                   CASE WHEN n %% %(every)s = 0 AND n / %(every)s <= %(to)s THEN 'to'
                        WHEN n %% %(every)s = 1 AND n / %(every)s < %(from)s THEN 'from'
                        ELSE 'other' END AS role,
                   %(first)s + (n::bigint * 7919) %% %(others)s AS other_a,
                   %(first)s + (n::bigint * 104729) %% %(others)s AS other_b
            FROM generate_series(1, %(total)s) AS n
            """,
            {
                "every": every,
                "to": to_reader,
                "from": from_reader,
                "first": first_other,
                "others": OTHERS,
                "total": total,
            },
        )
        cursor.execute(
            """
            INSERT INTO messaging_message (public_id, kind, sender, sender_user_id, subject, shown_recipients,
                search_text, key_id, wrapped_key, body_text, body_html, created_at, expires_at, source,
                allow_reply, read_receipt, restricted, scan, finding)
            SELECT gen_random_uuid(), 'secure', x.sender, x.sender_id, x.subject,
                   jsonb_build_array(x.recipient),
                   lower(x.sender || ' ' || x.subject || ' ' || x.recipient),
                   m.key_id, m.wrapped_key, m.body_text, m.body_html,
                   now() - interval '1 second' * (%(total)s - x.n), now() + interval '30 days', 'admin',
                   true, false, false, m.scan, m.finding
            FROM (
                SELECT p.n,
                       CASE WHEN p.role = 'from' THEN 'reader@example.com' ELSE u.email END AS sender,
                       CASE WHEN p.role = 'from' THEN %(reader)s ELSE u.id END AS sender_id,
                       'Message ' || p.n || CASE WHEN (p.n / %(every)s) %% 10 = 3 THEN ' invoice' ELSE '' END
                           || CASE WHEN p.n = %(zebra)s THEN ' zebra' ELSE '' END AS subject,
                       r.email AS recipient
                FROM plan p
                JOIN accounts_user u ON u.id = p.other_a
                JOIN accounts_user r ON r.id = CASE WHEN p.role = 'to' THEN %(reader)s ELSE p.other_b END
            ) x, messaging_message m
            WHERE m.id = %(template)s
            ORDER BY x.n
            """,
            # 'zebra': one message to the reader, half-way through their mailbox.
            {
                "reader": reader.pk,
                "template": template.pk,
                "total": total,
                "zebra": every * (to_reader // 2),
                "every": every,
            },
        )
        cursor.execute(
            """
            INSERT INTO messaging_recipient (message_id, address, user_id, token_hash, notified_at, opens,
                folder, unread)
            SELECT msg.id, u.email, u.id, '', msg.created_at, 0, 'inbox', true
            FROM messaging_message msg
            JOIN plan p ON split_part(msg.subject, ' ', 2)::int = p.n
            JOIN accounts_user u ON u.id = CASE WHEN p.role = 'to' THEN %(reader)s ELSE p.other_b END
            """,
            {"reader": reader.pk},
        )
        # As autovacuum would have done by now: statistics, and the visibility map for index-only scans.
        cursor.execute("VACUUM ANALYZE")
    print(f"filled {total} messages in {time.monotonic() - start:.0f} s")
