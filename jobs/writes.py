"""A transition's writes, sent to PostgreSQL as one statement.

The ORM writes a transition in five round trips: BEGIN, the guarded UPDATE,
a SELECT to refresh the job, the audit event's INSERT, COMMIT; and it compiles
the UPDATE, the SELECT and the INSERT on every call. On PostgreSQL the same
writes are one statement::

    WITH moved AS (UPDATE <job> SET ... WHERE <guard> RETURNING <every column>),
         recorded AS (INSERT INTO <event> (...) SELECT ... FROM moved)
    SELECT * FROM moved

It is atomic by itself (a statement is its own transaction under autocommit,
and part of the caller's inside an ``atomic`` block), the event is written
only if the UPDATE found the row, and what it returns is the row as the UPDATE
left it, which is what the refresh read. ``bench.internals`` measures the
endpoints with and without it (the "writes" part of ``PRIVATE_APIS``, listed
in docs/internals.md with the private API it relies on).

Other databases keep the ORM's way: SQLite has ``RETURNING`` but no UPDATE or
INSERT inside ``WITH``.

The UPDATE is compiled by Django (``QuerySet.update``'s own steps), so its
guard, its expressions and its column names stay the model's; only the two
clauses around it are written here.
"""

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.sql import UpdateQuery


def supported(using: str) -> bool:
    """Whether a transition is one statement: on PostgreSQL, unless
    ``PRIVATE_APIS`` leaves "writes" out (docs/internals.md)."""
    return connections[using].vendor == "postgresql" and "writes" in settings.PRIVATE_APIS


def update_and_insert(rows: QuerySet, values: dict, record: Model) -> dict | None:
    """UPDATE ``rows`` (at most one) with ``values`` and, if it found the row,
    INSERT ``record``: one statement. Returns the updated row's values by
    attribute name, as Django reads them, or None if no row matched."""
    connection = connections[rows.db]
    model = rows.model
    query = rows.query.chain(UpdateQuery)
    query.add_update_values(values)
    query.clear_select_clause()
    if query.related_updates:  # multi-table inheritance: more than one UPDATE
        raise NotImplementedError("an UPDATE of a model's parents' tables too")
    compiler = query.get_compiler(connection=connection)
    update_sql, update_params = compiler.as_sql()

    # What Model.save checks first: a related object not saved yet (an
    # actor with no id) is refused, not written as NULL.
    record._prepare_related_fields_for_save(operation_name="save")
    quote = connection.ops.quote_name
    columns = model._meta.concrete_fields
    returning = ", ".join(quote(field.column) for field in columns)
    inserted = [field for field in record._meta.concrete_fields if not field.primary_key]
    # No casts: PostgreSQL types the parameters of INSERT ... SELECT by the
    # columns they go to, and checks them as an INSERT's VALUES (a cast to
    # varchar(200) would cut a longer name instead of refusing it).
    placeholders = ", ".join(["%s"] * len(inserted))
    insert_params = [
        field.get_db_prep_save(field.pre_save(record, add=True), connection) for field in inserted
    ]
    sql = (
        f"WITH moved AS ({update_sql} RETURNING {returning}), "
        f"recorded AS (INSERT INTO {quote(record._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in inserted)}) "
        f"SELECT {placeholders} FROM moved) "
        f"SELECT * FROM moved"
    )
    with transaction.mark_for_rollback_on_error(using=rows.db), connection.cursor() as cursor:
        cursor.execute(sql, (*update_params, *insert_params))
        row = cursor.fetchone()
    if row is None:
        return None
    # Read as a SELECT of these columns reads them (JSON decoded, and so on).
    converters = compiler.get_converters([field.get_col(model._meta.db_table) for field in columns])
    [row] = compiler.apply_converters([row], converters)
    return {field.attname: value for field, value in zip(columns, row, strict=True)}


def refresh_with(instance: Model, values: dict) -> None:
    """Give ``instance`` the row's ``values``, as ``refresh_from_db`` does: a
    foreign key whose value changed, the reverse relations and the prefetched
    objects are forgotten (read again when asked for)."""
    for field in instance._meta.concrete_fields:
        # A foreign key's descriptor forgets the related object if the id changed.
        setattr(instance, field.attname, values[field.attname])
    instance._prefetched_objects_cache = {}
    for relation in instance._meta.related_objects:
        if relation.is_cached(instance):
            relation.delete_cached_value(instance)
