"""Property tests (hypothesis) over the Balance API write path."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.django import TestCase

from records import tlog
from records.models import CustomerRecord, Delta, LogLeaf, LogState, SignedTreeHead
from records.proofs import ZERO_HASH, from_hex, proof_hash, to_hex
from records.services.log import log_inclusion
from records.services.tenants import api_key_create, tenant_create
from tests.conftest import ApiClient
from tests.records.helpers import seal

amounts = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000"), places=3).filter(lambda d: d != 0)
items = st.lists(
    st.tuples(st.sampled_from(["acct-a", "acct-b", "acct-c"]), amounts, st.sampled_from([None, "r1", "r2", "r3"])),
    min_size=1, max_size=12,
)


class BalanceProperties(TestCase):
    def _persona(self):
        tenant = tenant_create(name="Property Vendor", kind="direct")
        _key, plaintext = api_key_create(tenant=tenant, environment="test")
        return tenant, ApiClient(plaintext)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(items)
    def test_balance_is_sum_of_verified_and_replays_change_nothing(self, submitted):
        tenant, api = self._persona()
        body = {"deltas": [{"customerId": c, "delta": str(a), "reason": "usage", "referenceId": r}
                           for c, a, r in submitted]}
        api.post("/api/v1/balance/delta/batch", body)
        seal(type("P", (), {"tenant": tenant})())
        before = list(Delta.objects.filter(tenant=tenant).order_by("id").values())
        with_reference = [i for i in body["deltas"] if i["referenceId"]]
        if with_reference:
            replay = api.post("/api/v1/balance/delta/batch", {"deltas": with_reference})
            assert replay.status_code == 200
            assert all(r["idempotent"] or r["error"] for r in replay.json()["data"]["results"])
        assert list(Delta.objects.filter(tenant=tenant).order_by("id").values()) == before
        for record in CustomerRecord.objects.filter(tenant=tenant):
            verified = record.deltas.filter(status="VERIFIED")
            expected = sum((d.amount for d in verified), Decimal(0))
            derived = api.get(f"/api/v1/balance/derive/{record.customer_id}").json()["data"]
            assert Decimal(str(derived["computedBalance"])) == expected
            _assert_chain(record)
        _assert_inclusions(tenant)


def _assert_chain(record):
    previous = ZERO_HASH
    for index, delta in enumerate(record.deltas.filter(status="VERIFIED").order_by("chain_index")):
        assert delta.chain_index == index and delta.previous_proof_hash == to_hex(previous)
        assert delta.proof_hash == to_hex(proof_hash(previous, from_hex(delta.content_hash)))
        previous = from_hex(delta.proof_hash)


def _assert_inclusions(tenant):
    log = LogState.objects.get(tenant=tenant)
    head = SignedTreeHead.objects.filter(log=log).order_by("-tree_size").first()
    for leaf in LogLeaf.objects.filter(log=log):
        proof = log_inclusion(log, leaf.leaf_index, head.tree_size)
        path = [from_hex(h) for h in proof["auditPath"]]
        assert tlog.verify_inclusion(leaf.leaf_index, head.tree_size, bytes(leaf.leaf_hash), path, bytes(head.root_hash))
