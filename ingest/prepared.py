"""Querysets compiled to SQL once, then run with new parameters.

Django compiles a QuerySet to SQL every time it is evaluated: it resolves the
lookups, builds the joins and renders every column, and only then sends the
query. For the API's hottest reads that work costs more than the database
takes to answer (``bench.prepared_queries`` measures the reads both ways,
``bench.internals`` the endpoints; figures in bench/README.md).

A :class:`PreparedQuery` is declared once, at import, with a function that
builds the queryset from its parameters. On first use in a process it builds
the queryset with stand-in values, compiles it, and records where each
parameter went in the SQL's parameters; every later call sends that SQL with
the real values, and builds model instances as ``QuerySet`` iteration does
(``select_related`` objects, annotations, the database's converters). The
queryset stays the one source of the SQL, so a migration that changes a
column changes the prepared query with it.

Two more savings. On PostgreSQL the rows of a query with no JSON column come
in the binary format, which psycopg reads in C (text timestamps went
through Django's time zone loader, in Python); and the SQL, the same text on
every call, becomes a server-side prepared statement after a few runs on a
connection (``DATABASE_PREPARE_THRESHOLD`` in the settings). Instances are
built by ``Model.from_db``, as Django builds them.

What it does not do, on purpose: ``prefetch_related`` (prepare the related
query as a query of its own) and ``values()``, but for a flat
``values_list`` of one column (a count, a list of ids). LIMIT and OFFSET are written
into the SQL, not passed as parameters, so each slice (a page) is compiled
on its own, once. A parameter the compiled SQL does not carry as itself, such as
a ``__contains`` lookup's ``%value%``, is refused when the query is compiled.

It builds instances with the compiler's ``select``, ``klass_info`` and
``annotation_col_map`` and Django's ``get_related_populators``, as
``ModelIterable`` does: internals, not public API, listed in docs/internals.md
(the "prepared" part of ``PRIVATE_APIS``; without it each query is its
queryset). ``tests/ingest/test_prepared.py`` compares its answers with the
querysets' own, and ``tests/test_internals.py`` fails, naming the version,
when what it relies on changes.
"""

import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import (
    Count,
    Prefetch,
    QuerySet,
    prefetch_related_objects,
)
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    get_related_populators,
)
from psycopg import pq


def enabled() -> bool:
    """Whether queries are prepared; else each is its queryset, run as Django runs it."""
    return "prepared" in settings.PRIVATE_APIS


# How each kind of parameter gets a stand-in value nothing else in a query can equal.
STAND_INS: dict[type, Callable[[], Any]] = {
    uuid.UUID: uuid.uuid4,
    str: lambda: f"prepared-{secrets.token_hex(16)}",
    # Within a 32-bit integer column's range: Django compiles a lookup beyond
    # it as matching nothing.
    int: lambda: 1_100_000_000 + secrets.randbelow(10**9),
}

SLICES_KEPT = 32  # compiled slices (pages) kept per query and database


class PreparedQuery:
    """``PreparedQuery(build, name=kind, ...)``: ``build(**parameters)`` returns
    the queryset; each parameter's kind is ``uuid.UUID``, ``str`` or ``int``.
    Calling the prepared query with the parameters returns the list of model
    instances the queryset would give (of values, for a flat ``values_list``)."""

    def __init__(self, build: Callable[..., QuerySet], **kinds: type):
        unknown = {name: kind for name, kind in kinds.items() if kind not in STAND_INS}
        if unknown:
            raise ImproperlyConfigured(f"parameters of unsupported kinds: {unknown}")
        self.build = build
        self.kinds = kinds
        # By database alias and slice, the most recently used last.
        self._compiled: OrderedDict[tuple, _Compiled] = OrderedDict()
        self._lock = threading.Lock()
        self._totals: dict[str, PreparedQuery] = {}

    def totals(self, by: str) -> "PreparedQuery":
        """This query's rows counted, grouped by the column ``by`` (a flat
        values_list: no row when there are none)."""
        if by not in self._totals:
            build = self.build

            def grouped(**values):
                rows = build(**values).order_by().values(by).annotate(total=Count("*"))
                return rows.values_list("total", flat=True)

            self._totals[by] = PreparedQuery(grouped, **self.kinds)
        return self._totals[by]

    def __call__(self, *, using: str | None = None, rows: slice | None = None, **values) -> list:
        """The instances; ``rows``, a slice of them (``queryset[rows]``: each
        slice is an SQL of its own, compiled once, the last ``SLICES_KEPT`` kept)."""
        if values.keys() != self.kinds.keys():
            raise TypeError(f"expected the parameters {sorted(self.kinds)}, got {sorted(values)}")
        if rows is not None and rows.stop is not None and rows.stop <= (rows.start or 0):
            return []  # Django compiles no SQL for an empty slice
        if not enabled():
            queryset = self.build(**values).using(using or DEFAULT_DB_ALIAS)
            return list(queryset if rows is None else queryset[rows])
        compiled = self._compiled_for(using or DEFAULT_DB_ALIAS, rows)
        connection = connections[compiled.alias]
        with connection.cursor() as cursor:
            if compiled.binary:
                cursor.cursor.format = pq.Format.BINARY  # psycopg's cursor, for its results
            cursor.execute(compiled.sql, compiled.params(values))
            fetched = cursor.fetchall()
        return compiled.instances(fetched, connection)

    def first(self, **values):
        """The first instance, or None: for a query of one row at most (by a
        unique key, or built with ``[:1]``)."""
        found = self(**values)
        return found[0] if found else None

    def _compiled_for(self, alias: str, rows: slice | None) -> "_Compiled":
        # No database router is configured: a query runs where it is told to,
        # else on the default database.
        key = (alias, None) if rows is None else (alias, rows.start, rows.stop)
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is None:
                compiled = self._compiled[key] = self._compile(alias, rows)
                while len(self._compiled) > SLICES_KEPT:  # many pages: no unbounded growth
                    self._compiled.popitem(last=False)
            else:
                self._compiled.move_to_end(key)
        return compiled

    def _compile(self, alias: str, rows: slice | None) -> "_Compiled":
        stand_ins = {name: STAND_INS[kind]() for name, kind in self.kinds.items()}
        queryset = self.build(**stand_ins).using(alias)
        return _Compiled(queryset if rows is None else queryset[rows], alias, stand_ins)


class _Compiled:
    """One query's SQL for one database, where its parameters go, and what
    turns its rows into model instances (or values)."""

    def __init__(self, queryset: QuerySet, alias: str, stand_ins: dict[str, Any]):
        self.flat = queryset._iterable_class is FlatValuesListIterable
        if queryset._prefetch_related_lookups or not (
            self.flat or queryset._iterable_class is ModelIterable
        ):
            raise ImproperlyConfigured(
                "a prepared query returns model instances or one flat column, no prefetch"
            )
        self.alias = alias
        compiler = queryset.query.get_compiler(using=alias)
        self.sql, params = compiler.as_sql()  # also fills select, klass_info, annotations
        self.slots = [_slot(value, stand_ins) for value in params]
        unused = set(stand_ins) - {slot[0] for slot in self.slots if slot[0]}
        if unused:
            raise ImproperlyConfigured(f"the SQL does not use the parameters {sorted(unused)}")
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        self.converters = list(compiler.get_converters(columns).items())
        self.binary = _binary_results(connections[alias], columns)
        if self.flat:
            if compiler.col_count != 1:
                raise ImproperlyConfigured("a flat values_list of one column only")
            return
        # As ModelIterable.__iter__ reads them, once instead of on every call.
        select, klass_info = compiler.select, compiler.klass_info
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.model_slice = slice(fields[0], fields[-1] + 1)
        self.init_list = [column[0].target.attname for column in select[self.model_slice]]
        self.related_populators = get_related_populators(klass_info, select, alias)
        self.annotations = list(compiler.annotation_col_map.items())

    def params(self, values: dict[str, Any]) -> list:
        return [
            constant if name is None else prepare(values[name])
            for name, prepare, constant in self.slots
        ]

    def instances(self, rows: list, connection) -> list:
        found = []
        for raw in rows:
            row = list(raw)
            for position, (converters, expression) in self.converters:
                value = row[position]
                for convert in converters:
                    value = convert(value, expression, connection)
                row[position] = value
            if self.flat:
                found.append(row[0])
                continue
            obj = self.model.from_db(self.alias, self.init_list, row[self.model_slice])
            for populator in self.related_populators:
                populator.populate(row, obj)
            for name, position in self.annotations:
                setattr(obj, name, row[position])
            found.append(obj)
        return found


# Columns psycopg reads from PostgreSQL's binary format into the values it
# reads from text (and Django's converters expect). Not JSON: psycopg would
# decode it, and Django's JSONField decodes the text itself.
BINARY_SAFE = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "DateTimeField",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
        "UUIDField",
    }
)


def _binary_results(connection, columns) -> bool:
    """Whether the rows can come in PostgreSQL's binary format, which psycopg
    reads in C: from text, timestamps and UUIDs were parsed in Python
    (Django's time zone loader), most of a list page's fetching. It needs
    server-side binding (see the settings)."""
    if connection.vendor != "postgresql":
        return False
    if connection.settings_dict["OPTIONS"].get("server_side_binding") is not True:
        return False
    for column in columns:
        field = column.output_field
        while field.is_relation:  # a foreign key's column holds its target's values
            field = field.target_field
        if field.get_internal_type() not in BINARY_SAFE:
            return False
    return True


def _slot(value, stand_ins: dict[str, Any]) -> tuple[str | None, Callable | None, Any]:
    """(parameter name, how to prepare its value, None) for a value the SQL got
    from a parameter; (None, None, value) for a constant of the query."""
    for name, stand_in in stand_ins.items():
        if value == stand_in:
            return name, _same if not isinstance(stand_in, uuid.UUID) else _as_uuid, None
        if isinstance(stand_in, uuid.UUID) and value == stand_in.hex:
            return name, _as_hex, None  # a database with no UUID type (SQLite)
        if str(stand_in.hex if isinstance(stand_in, uuid.UUID) else stand_in) in str(value):
            raise ImproperlyConfigured(f"parameter {name!r} is not passed as itself: {value!r}")
    return None, None, value


def _same(value):
    return value


def _as_uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_hex(value) -> str:
    return _as_uuid(value).hex


def prefetch(instance, related_name: str, query: PreparedQuery | None, **values) -> None:
    """Give ``instance`` the objects ``query`` finds as its prefetched
    ``related_name`` objects (None: it is known that there are none):
    prepared, or else by Django's own ``prefetch_related_objects`` of the
    query's queryset (none: left to be read when asked for)."""
    if enabled():
        set_prefetched(instance, related_name, query(**values) if query else [])
    elif query is not None:
        prefetch_related_objects([instance], Prefetch(related_name, query.build(**values)))


def set_prefetched(instance, related_name: str, objects: list) -> None:
    """Give ``instance`` its reverse foreign key objects as ``prefetch_related``
    does, so that ``instance.<related_name>.all()`` answers without a query."""
    manager = getattr(instance, related_name)
    field = manager.field
    for obj in objects:
        field.set_cached_value(obj, instance)
    queryset = manager.get_queryset()
    queryset._result_cache = objects
    queryset._prefetch_done = True
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[field.remote_field.cache_name] = (
        queryset
    )


class Rows:
    """A list's rows as one queryset declares them (``query.build(**values)``):
    what Django's ``Paginator``, the commands and the agents' tools read.
    ``count()`` and each slice (a page) are prepared queries, or the
    queryset's own with ``prepare=False`` (a query whose SQL changes with its
    values) or ``PRIVATE_APIS`` without "prepared". ``by`` names a column
    every row holds the same value of (the list's scope): the count is the
    rows grouped by it. ``counted``, when given, is counted instead of
    ``query`` (a search counts its hits, unranked)."""

    ordered = True  # the rows' query orders them; Paginator warns otherwise

    def __init__(self, query: PreparedQuery, *, by: str, counted=None, prepare=True, **values):
        self.query = query
        self.by = by
        self.counted = counted or query
        self.prepare = prepare
        self.values = values
        self._all: list | None = None

    def queryset(self) -> QuerySet:
        """The rows' queryset, as Django runs it (to explain, or to filter further)."""
        return self.query.build(**self.values)

    def count(self) -> int:
        if not (self.prepare and enabled()):
            return self.counted.build(**self.values).count()
        return self.counted.totals(self.by).first(**self.values) or 0

    def __getitem__(self, index: slice | int):
        if isinstance(index, int):
            return self[index : index + 1][0]
        if not self.prepare:
            return list(self.queryset()[index])
        return self.query(rows=index, **self.values)

    def __iter__(self):
        # Read once, as a QuerySet caches its rows: a page iterates a list twice.
        if self._all is None:
            self._all = self.query(**self.values) if self.prepare else list(self.queryset())
        return iter(self._all)
