"""Everything sealed under PORTAL_KEKS, in one list: what `rotate_keys` re-wraps, and what `check --deploy`
and /readyz look at before an old key is taken away.

A row is sealed when it keeps a data key wrapped by a key-encryption key (its id beside it): held
messages, mail waiting in the spool, webhook secrets. An app adds its own with `register()` when it
is ready; anything left under a key no longer configured would fail at its next use (a message that
cannot be opened, a worker that fails every round), so it is named before that happens.
"""

import logging
import time
from collections import Counter
from dataclasses import dataclass

from django.db import transaction

from portal import audit

from . import crypto

log = logging.getLogger("portal.keys")
PROBE_SECONDS = 60  # /readyz counts at most this often: it reads every sealed table


@dataclass(frozen=True)
class Sealed:
    model: type
    key_id: str  # the field naming the key-encryption key
    wrapped: str  # the field holding the wrapped data key

    @property
    def label(self):
        return self.model._meta.label


_SEALED = []
_probed = {"at": 0.0, "missing": {}}


def register(model, key_id="key_id", wrapped="wrapped_key"):
    if not any(s.model is model for s in _SEALED):
        _SEALED.append(Sealed(model, key_id, wrapped))


def everything():
    return list(_SEALED)


def by_key():
    """{model label: {key id: rows}} of everything sealed."""
    found = {}
    for sealed in _SEALED:
        rows = sealed.model.objects.values_list(sealed.key_id, flat=True)
        found[sealed.label] = dict(Counter(rows.iterator()))
    return found


def under_missing_keys():
    """{model label: {key id: rows}} sealed under a key that PORTAL_KEKS no longer holds."""
    configured = {kek.id for kek in crypto.keks()}
    missing = {}
    for label, keys in by_key().items():
        gone = {key: count for key, count in keys.items() if key not in configured}
        if gone:
            missing[label] = gone
    return missing


def under_older_keys():
    """{model label: {key id: rows}} still sealed under a configured key that is not the newest."""
    kek_ids = [kek.id for kek in crypto.keks()]
    older = {}
    for label, keys in by_key().items():
        old = {key: count for key, count in keys.items() if key in kek_ids[1:]}
        if old:
            older[label] = old
    return older


def describe(found):
    """'messaging.Message: 3 under k2025; api.WebhookEndpoint: 1 under k2025', for messages."""
    return "; ".join(
        f"{label}: " + ", ".join(f"{count} under {key}" for key, count in sorted(keys.items()))
        for label, keys in sorted(found.items())
    )


def readiness_check():
    """For /readyz: fails while anything is sealed under a key no process holds (counted once a minute)."""
    now = time.monotonic()
    if now - _probed["at"] > PROBE_SECONDS:
        _probed.update(at=now, missing=under_missing_keys())
    if _probed["missing"]:
        raise LookupError(f"sealed under keys no longer configured: {describe(_probed['missing'])}")


def _rewrap(sealed, pk, newest):
    with transaction.atomic():
        row = sealed.model.objects.select_for_update().filter(pk=pk).first()
        if row is None or getattr(row, sealed.key_id) == newest:
            return False
        key = crypto.unwrap(getattr(row, sealed.key_id), bytes(getattr(row, sealed.wrapped)))
        kek_id, wrapped = crypto.wrap(key)
        setattr(row, sealed.key_id, kek_id)
        setattr(row, sealed.wrapped, wrapped)
        row.save(update_fields=[sealed.key_id, sealed.wrapped])
        return True


def rotate(actor=audit.COMMAND_LINE):
    """Re-wrap everything sealed under an older key with the newest one, row by row (each its own short
    transaction). Returns ({label: rows re-wrapped}, {label: {key: rows}} that could not be, their key
    not configured here); recorded in the audit trail."""
    newest = crypto.keks()[0].id
    done, unknown = {}, {}
    for sealed in _SEALED:
        count = 0
        pending = sealed.model.objects.exclude(**{sealed.key_id: newest}).values_list("pk", flat=True)
        for pk in list(pending.iterator()):
            try:
                count += _rewrap(sealed, pk, newest)
            except crypto.UnknownKey as error:
                keys = unknown.setdefault(sealed.label, {})
                keys[error.kek_id] = keys.get(error.kek_id, 0) + 1
        done[sealed.label] = count
    audit.record(
        audit.Event.KEYS_ROTATED, actor=actor, newest=newest, rewrapped=done, not_rewrapped=unknown or None
    )
    log.info(
        "event=keys_rotated newest=%s rewrapped=%s unknown=%s", newest, sum(done.values()), bool(unknown)
    )
    _probed["at"] = 0.0
    return done, unknown
