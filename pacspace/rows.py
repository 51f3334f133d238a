"""Model rows through hand-written SQL, for the few statements on the per-request hot path.

The ORM compiles every queryset anew: about a millisecond for a wide model like `Delta` on this
machine, several times the database round trip itself (bench/RESULTS.md, single emit). The hot
statements (authentication, the intake locks and lookups, the delta INSERT, the seal worker's log
rows) are therefore written once, as SQL, and their rows turned into model instances here with the
same converters and the same `get_db_prep_save` the ORM would use, so they behave identically on
PostgreSQL and SQLite. Everything else keeps using the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def placeholders(count: int) -> str:
    """`%s, %s, …` for an IN list or a VALUES tuple of `count` values."""
    return ", ".join(["%s"] * count)


def for_update() -> str:
    """` FOR UPDATE` where the backend has row locks (SQLite serializes writers on its own)."""
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


@contextmanager
def pipelined() -> Iterator[None]:
    """Statements executed inside reach PostgreSQL together, in one round trip (psycopg pipeline mode),
    and run there one after the other in order; a result is read when it is fetched, so execute them all
    before fetching any. Elsewhere (SQLite) they simply run one by one."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.connection.pipeline():
        yield


class Rows(Generic[M]):
    """One model's concrete columns under a table alias: the SELECT list, and rows back to instances."""

    def __init__(self, model: type[M], alias: str) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.width = len(self.fields)
        self.table = f"{quote(model._meta.db_table)} {alias}"
        self.columns = ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)
        self._attnames = [field.attname for field in self.fields]

    @cached_property
    def _converters(self) -> list[tuple[int, list, Any]]:
        """What the ORM applies to each column read back (nothing on PostgreSQL; dates etc. on SQLite)."""
        compiler = self.model._default_manager.none().query.get_compiler(connection=connection)
        found = compiler.get_converters([field.get_col(self.alias) for field in self.fields])
        return [(position, functions, expression) for position, (functions, expression) in found.items()]

    def load(self, values: Sequence[Any]) -> M:
        """An instance from this model's slice of a row, as if the ORM had fetched it."""
        if self._converters:
            values = list(values)
            for position, functions, expression in self._converters:
                for function in functions:
                    values[position] = function(values[position], expression, connection)
        return self.model.from_db(connection.alias, self._attnames, values)

    def fetch(self, sql: str, params: Sequence[Any]) -> list[M]:
        return self.receive(self.send(sql, params))

    @staticmethod
    def send(sql: str, params: Sequence[Any]):
        """Execute now, read later with `receive` (the two halves of `fetch`, for `pipelined`)."""
        cursor = connection.cursor()
        cursor.execute(sql, params)
        return cursor

    def receive(self, cursor) -> list[M]:
        """The instances of a statement `send` executed; no cursor (nothing was sent) reads as no rows."""
        if cursor is None:
            return []
        with cursor:
            return [self.load(row) for row in cursor.fetchall()]


# Field types whose get_db_prep_save is the identity on PostgreSQL for the values the services build
# (str, int, bool, Decimal, aware datetime, bytes, None): the array path skips the per-value call.
_PLAIN_ON_POSTGRES = {
    "CharField", "TextField", "BigIntegerField", "PositiveBigIntegerField", "IntegerField",
    "PositiveIntegerField", "PositiveSmallIntegerField", "SmallIntegerField", "BooleanField",
    "DecimalField", "DateTimeField", "BinaryField", "ForeignKey", "OneToOneField",
}


ARRAY_INSERT_FROM = 16  # rows; measured on the emit and batch paths (bench/RESULTS.md)


class Inserter(Generic[M]):
    """INSERT … RETURNING the primary key for many objects of one model.

    A few rows go as a multi-row VALUES list. Many rows, on PostgreSQL, travel as one array per column
    (`INSERT … SELECT … FROM unnest(…)`): a short, constant statement, where a VALUES list of 27,000
    placeholders cost psycopg more to build than PostgreSQL to insert (while for one row the 26 arrays
    cost more than the placeholders). Elsewhere VALUES lists in batches the backend accepts."""

    def __init__(self, model: type[M]) -> None:
        meta = model._meta
        # Database-generated keys (AutoFields) are left out; keys the objects carry (new_id()) go in.
        self.fields = [f for f in meta.concrete_fields if not (f is meta.pk and f.db_returning)]
        self.pk = meta.pk
        columns = ", ".join(quote(field.column) for field in self.fields)
        self.prefix = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "
        self.row = f"({placeholders(len(self.fields))})"
        self.returning = f" RETURNING {quote(self.pk.column)}"
        self._table, self._columns = quote(meta.db_table), columns

    @cached_property
    def _unnest_sql(self) -> str:
        # WITH ORDINALITY + ORDER BY: rows are inserted, and draw their keys, in the objects' order.
        arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in self.fields)
        names = ", ".join(f"c{i}" for i in range(len(self.fields)))
        return (
            f"INSERT INTO {self._table} ({self._columns}) SELECT {names} FROM unnest({arrays})"
            f" WITH ORDINALITY AS v({names}, n) ORDER BY n" + self.returning
        )

    def _column(self, field, objs: list[M]) -> list[Any]:
        values = [getattr(obj, field.attname) for obj in objs]
        if field.get_internal_type() in _PLAIN_ON_POSTGRES:
            return values
        return [field.get_db_prep_save(value, connection) for value in values]

    def write(self, objs: Iterable[M]) -> None:
        """Insert without reading keys back (nobody needs them, or the objects carry their own): COPY on
        PostgreSQL, the fastest way in for many rows; elsewhere the same as `insert`."""
        objs = list(objs)
        if connection.vendor != "postgresql" or not objs:
            self.insert(objs)
            return
        fields = self.fields
        sql = f"COPY {self._table} ({', '.join(quote(field.column) for field in fields)}) FROM STDIN"
        columns = [self._column(field, objs) for field in fields]
        connection.ensure_connection()
        with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)
        for obj in objs:
            obj._state.adding, obj._state.db = False, connection.alias

    def insert(self, objs: Iterable[M]) -> None:
        """Insert, setting each object's primary key."""
        with self.send(objs) as sent:
            sent.receive()

    def send(self, objs: Iterable[M]) -> SentInsert:
        """Execute the INSERT(s) now; `receive()` on the result reads the keys back. Use it as a context
        manager so a failure in between still closes its cursors."""
        objs = list(objs)
        sent = SentInsert(self.pk)
        if not objs:
            return sent
        if connection.vendor == "postgresql" and len(objs) > ARRAY_INSERT_FROM:
            cursor = connection.cursor()
            sent.cursors.append((cursor, objs))
            cursor.execute(self._unnest_sql, [self._column(field, objs) for field in self.fields])
            return sent
        size = max(1, connection.ops.bulk_batch_size(self.fields, objs))
        for start in range(0, len(objs), size):
            chunk = objs[start : start + size]
            params = [
                field.get_db_prep_save(getattr(obj, field.attname), connection)
                for obj in chunk
                for field in self.fields
            ]
            cursor = connection.cursor()
            sent.cursors.append((cursor, chunk))
            cursor.execute(self.prefix + ", ".join([self.row] * len(chunk)) + self.returning, params)
        return sent


class SentInsert:
    """INSERTs executed by `Inserter.send`, their keys not read yet."""

    def __init__(self, pk) -> None:
        self.pk = pk
        self.cursors: list[tuple[Any, list[Model]]] = []

    def receive(self) -> None:
        """Generated keys are drawn from the sequence in insertion order, which is the objects' order:
        sorted, they match the objects one to one whatever order RETURNING lists them in. Objects that
        carry their own keys keep them."""
        for cursor, chunk in self.cursors:
            keys = sorted(pk for (pk,) in cursor.fetchall())
            for obj, pk in zip(chunk, keys, strict=True):
                if self.pk.db_returning:
                    setattr(obj, self.pk.attname, pk)
                obj._state.adding, obj._state.db = False, connection.alias

    def __enter__(self) -> SentInsert:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for cursor, _ in self.cursors:
            cursor.close()
