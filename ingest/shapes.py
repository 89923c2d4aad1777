"""Output shapes, each declared once: a field's name, its kind, how it is read
from an instance, whether it may be null, and what it means.

A :class:`Shape` builds the JSON-ready dict an answer holds (the API, the
agents' tools and the commands all answer with it), and ``ingest.api.shapes``
reads the same declaration to make the OpenAPI schema's component: a field
added to a shape is in the answer and in the schema, with one edit. A shape
also says which of its model's columns it reads (``reads``), so a list's
query loads those and no others.

Rendering is a dict comprehension over readers prepared once (an
``attrgetter`` for a plain attribute), close to the hand-written dicts it
replaced (``bench.representation`` measures both).
"""

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The scalar kinds; the API maps each to a schema type.
STRING = "string"
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "boolean"
UUID = "uuid"
DATETIME = "datetime"
OBJECT = "object"  # a JSON object of any keys


@dataclass(frozen=True)
class Choice:
    """One of ``values``: strings, or (string, label) pairs as a Django
    ``TextChoices.choices`` gives them (the schema's enum is then named by
    that class: ``SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]``)."""

    values: tuple


@dataclass(frozen=True)
class ListOf:
    """A list of ``item`` (a kind or a :class:`Shape`)."""

    item: Any


def same(instance):
    """The reader of a nested shape built from the instance itself."""
    return instance


def when(value: datetime | None) -> str | None:
    """A time in UTC, ISO 8601 with ``Z``, as DRF writes it, whatever zone a
    page shows it in. Not DRF's ``timezone.localtime``: with the settings'
    zone UTC it gives the same text, but looks the active zone up per value."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the database's times mostly are
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return f"{value.isoformat()[:-6]}Z"  # its "+00:00" written the short way


def _text_or_none(value) -> str | None:
    return None if value is None else str(value)


# What a kind's values become in JSON, when the instance holds something else.
CONVERTERS: dict[Any, Callable] = {UUID: _text_or_none, DATETIME: when}


@dataclass(frozen=True)
class Field:
    """``get``: an attribute's name (the field's own by default) or a function
    of the instance. ``reads``: the model columns it needs loaded (the
    attribute's own by default; say them when ``get`` is a function).
    ``present``: when given, the field is in the answer only for the
    instances it holds for (the schema says it is optional)."""

    kind: Any
    get: str | Callable | None = None
    null: bool = False
    help: str = ""
    present: Callable[[Any], bool] | None = None
    reads: tuple[str, ...] | None = None

    def reader(self, name: str) -> Callable:
        get = self.get or name
        read = operator.attrgetter(get) if isinstance(get, str) else get
        if isinstance(self.kind, Shape):
            nested = self.kind
            if read is same:
                return nested.__call__
            return lambda instance: _nested(nested, read(instance))
        if isinstance(self.kind, ListOf) and isinstance(self.kind.item, Shape):
            item = self.kind.item
            return lambda instance: [item(each) for each in read(instance)]
        convert = CONVERTERS.get(self.kind)
        if convert is None:
            return read
        return lambda instance: convert(read(instance))

    def columns(self, name: str) -> tuple[str, ...]:
        if self.reads is not None:
            return self.reads
        if self.get is same and isinstance(self.kind, Shape):
            return self.kind.reads
        get = self.get or name
        return (get,) if isinstance(get, str) else ()


def _nested(shape: "Shape", value):
    return None if value is None else shape(value)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Shape:
    """``Shape("Job", {"id": Field(UUID, "pk"), ...}, doc=...)``; calling it
    with an instance gives the instance's dict. A keyword names a value the
    caller already has (``JOB(job, url=...)``), used instead of the field's
    reader."""

    name: str
    fields: dict[str, Field]
    doc: str = ""
    _always: tuple = field(init=False, repr=False, compare=False)
    _sometimes: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        always = [(n, f.reader(n)) for n, f in self.fields.items() if f.present is None]
        sometimes = [(n, f.reader(n), f.present) for n, f in self.fields.items() if f.present]
        object.__setattr__(self, "_always", tuple(always))
        object.__setattr__(self, "_sometimes", tuple(sometimes))

    def __call__(self, instance, **given) -> dict:
        if given:
            data = {
                name: given[name] if name in given else read(instance)
                for name, read in self._always
            }
        else:
            data = {name: read(instance) for name, read in self._always}
        for name, read, present in self._sometimes:
            if present(instance):
                data[name] = read(instance)
        return data

    @property
    def reads(self) -> tuple[str, ...]:
        """The columns the shape's fields read, each once, in field order."""
        columns = (c for name, f in self.fields.items() for c in f.columns(name))
        return tuple(dict.fromkeys(columns))

    def without(self, *names: str, name: str, doc: str = "") -> "Shape":
        """This shape less the fields ``names``: another shape, named ``name``."""
        unknown = set(names) - self.fields.keys()
        if unknown:
            raise ValueError(f"{self.name} has no fields {sorted(unknown)}")
        kept = {n: f for n, f in self.fields.items() if n not in names}
        return Shape(name, kept, doc=doc or self.doc)

    def extended(self, fields: dict[str, Field], *, name: str, doc: str = "") -> "Shape":
        """This shape with ``fields`` added after its own: another shape."""
        return Shape(name, {**self.fields, **fields}, doc=doc or self.doc)
