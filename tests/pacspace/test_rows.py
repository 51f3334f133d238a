"""pacspace.rows: hand-written statements read and write exactly what the ORM would."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pacspace.rows import ARRAY_INSERT_FROM, Inserter, Rows
from records.models import CustomerRecord, Delta

pytestmark = pytest.mark.django_db


def _record(persona, customer_id: str) -> CustomerRecord:
    return CustomerRecord.objects.create(
        tenant=persona.tenant, environment="sandbox", customer_id=customer_id
    )


def _deltas(record: CustomerRecord, count: int) -> list[Delta]:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return [
        Delta(
            tenant_id=record.tenant_id, environment=record.environment, customer_record=record,
            customer_id=record.customer_id, delta_text=f"-{n}.5", amount=Decimal(f"-{n}.5"), reason=f"r{n}",
            reference_id=f"ref-{n}", metadata_json='{"n":%d}' % n, intake_sequence=n + 1,
            created_at=start + dt.timedelta(milliseconds=n), content_hash="0x" + f"{n:064x}",
        )
        for n in range(count)
    ]  # fmt: skip


@pytest.mark.parametrize("count", [1, ARRAY_INSERT_FROM, ARRAY_INSERT_FROM + 1, 250])
def test_inserted_keys_match_their_objects_in_order(direct_tenant, count):
    record = _record(direct_tenant, "c-rows")
    objs = _deltas(record, count)
    Inserter(Delta).insert(objs)
    assert [o.pk for o in objs] == sorted(o.pk for o in objs)  # acceptance order is item order
    stored = {d.pk: d for d in Delta.objects.filter(customer_record=record)}
    assert len(stored) == count
    for obj in objs:
        row = stored[obj.pk]
        assert (row.record_id, row.reference_id, row.amount, row.created_at, row.intake_sequence) == (
            obj.record_id, obj.reference_id, obj.amount, obj.created_at, obj.intake_sequence
        )
        assert row.status == "QUEUED" and not obj._state.adding


def test_rows_load_like_the_orm(direct_tenant):
    record = _record(direct_tenant, "c-load")
    Inserter(Delta).insert(_deltas(record, 3))
    rows = Rows(Delta, "d")
    sql = f"SELECT {rows.columns} FROM {rows.table} WHERE d.customer_record_id = %s ORDER BY d.id"
    loaded = rows.fetch(sql, [record.pk])
    expected = list(Delta.objects.filter(customer_record=record).order_by("id"))
    fields = [f.attname for f in Delta._meta.concrete_fields]
    assert [[getattr(d, f) for f in fields] for d in loaded] == [
        [getattr(d, f) for f in fields] for d in expected
    ]


def test_write_inserts_every_row_without_reading_keys(direct_tenant):
    record = _record(direct_tenant, "c-copy")
    objs = _deltas(record, 30)
    Inserter(Delta).write(objs)
    stored = list(Delta.objects.filter(customer_record=record).order_by("intake_sequence"))
    assert [(d.record_id, d.amount, d.metadata_json, d.created_at) for d in stored] == [
        (o.record_id, o.amount, o.metadata_json, o.created_at) for o in objs
    ]
