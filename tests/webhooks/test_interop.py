"""Interop proof: a real receiver on 127.0.0.1 verifies what we send with the PacSpace SDK verifier and
the `standardwebhooks` library, over the raw body, before and during and after a rotation overlap."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from tests.webhooks.conftest import make_endpoint, record_events
from webhooks.models import Delivery
from webhooks.services import (
    deliveries_dispatch_due,
    delivery_retry,
    endpoint_rotate_secret,
    endpoint_test,
    event_record,
)
from webhooks.signing import pacspace_signature, standard_signature


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        (
            "delta.verified",
            {"recordId": "rec_1", "amount": "-12.5", "delta": {"metadata": {"k": [1, 2.5, None]}}},
        ),
        ("customer.created", {"customerId": "cus_1", "externalCustomerId": "Kunde Ölmühle 株式会社 🚀"}),
        ("export.ready", {}),
    ],
)
def test_both_verifiers_accept_every_delivery(direct_tenant, receiver, committed, event_type, data):
    _, secret = make_endpoint(direct_tenant, receiver.url)
    receiver.secrets = [secret]
    with committed():
        with transaction.atomic():
            event = event_record(
                tenant_id=direct_tenant.tenant.pk, environment="sandbox", event_type=event_type, data=data
            )
    (request,) = receiver.requests
    assert (request.status, request.verified) == (200, {secret: (True, True)})
    assert request.body == bytes(event.body)


def test_rotation_overlap_is_accepted_by_receivers_on_either_secret(
    direct_tenant, receiver, committed, clock
):
    endpoint, old = make_endpoint(direct_tenant, receiver.url)
    endpoint, new = endpoint_rotate_secret(endpoint=endpoint)
    receiver.secrets = [old, new]  # a receiver not yet updated and one already updated, both at once
    with committed():
        record_events(direct_tenant)
    overlap = receiver.requests[-1]
    assert (overlap.status, overlap.verified) == (200, {old: (True, True), new: (True, True)})
    stamp = int(overlap.headers["X-PacSpace-Timestamp"])
    event_id = overlap.headers["webhook-id"]
    assert overlap.headers["X-PacSpace-Signature"] == (
        f"v1={pacspace_signature(new, stamp, overlap.body)},v1={pacspace_signature(old, stamp, overlap.body)}"
    )  # current first
    assert overlap.headers["webhook-signature"] == (
        f"v1,{standard_signature(new, event_id, stamp, overlap.body)} "
        f"v1,{standard_signature(old, event_id, stamp, overlap.body)}"
    )

    clock.advance(hours=24)
    receiver.secrets = [old]  # the receiver never switched: after the overlap it must refuse
    with committed():
        (late,) = record_events(direct_tenant)
    refused = receiver.requests[-1]
    assert (refused.status, refused.verified) == (401, {old: (False, False)})
    assert Delivery.objects.get(event=late).last_status_code == 401
    assert (
        " " not in refused.headers["webhook-signature"] and "," not in refused.headers["X-PacSpace-Signature"]
    )


def test_manual_retry_after_rotation_sends_the_same_bytes_under_the_new_secret(
    direct_tenant, receiver, committed, clock
):
    endpoint, old = make_endpoint(direct_tenant, receiver.url)
    receiver.secrets = [old]
    with committed():
        (event,) = record_events(direct_tenant)
    endpoint, new = endpoint_rotate_secret(endpoint=endpoint)
    clock.advance(hours=25)
    receiver.secrets = [new]
    with committed():
        delivery_retry(tenant_id=direct_tenant.tenant.pk, environment="sandbox", target_id=event.pk)
    first, again = receiver.requests
    assert (first.verified, again.verified, again.status) == ({old: (True, True)}, {new: (True, True)}, 200)
    assert first.body == again.body == bytes(event.body) and first.event_id == again.event_id == event.pk
    assert receiver.processed == {event.pk: 1}  # the receiver's dedupe sees one event


def test_test_event_verifies_too(direct_tenant, receiver, clock):
    endpoint, secret = make_endpoint(direct_tenant, receiver.url)
    receiver.secrets = [secret]
    assert endpoint_test(endpoint=endpoint).status_code == 200
    assert receiver.requests[0].verified == {secret: (True, True)}


def test_attempts_are_stamped_when_sent_not_when_the_event_was_written(
    direct_tenant, receiver, committed, clock
):
    """A retry hours after the event still passes the receivers' 300-s tolerance."""
    _, secret = make_endpoint(direct_tenant, receiver.url)
    receiver.secrets = [secret]
    receiver.statuses = [500]
    clock.advance(hours=-3)  # the event is written three hours before the wall clock of the sends
    with committed():
        (event,) = record_events(direct_tenant)
    deliveries_dispatch_due()
    assert [(r.status, r.verified[secret]) for r in receiver.requests] == [
        (500, (True, True)),
        (200, (True, True)),
    ]
    stamps = {int(r.headers["webhook-timestamp"]) for r in receiver.requests}
    assert all(abs(stamp - time.time()) < 60 for stamp in stamps)
    assert Delivery.objects.get(event=event).status == "DELIVERED"
