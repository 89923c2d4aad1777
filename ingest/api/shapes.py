"""The OpenAPI schema of each output shape, made from its one declaration
(``ingest.shapes``): :func:`output` gives the serializer drf-spectacular
reads, whose answer is the shape's own dict."""

import functools

from rest_framework import serializers

from ingest import shapes

SCALARS = {
    shapes.STRING: serializers.CharField,
    shapes.INTEGER: serializers.IntegerField,
    shapes.NUMBER: serializers.FloatField,
    shapes.BOOLEAN: serializers.BooleanField,
    shapes.UUID: serializers.UUIDField,
    shapes.DATETIME: serializers.DateTimeField,
    shapes.OBJECT: serializers.DictField,
}


class ShapeOutput(serializers.Serializer):
    # Answers with its shape's dict; its fields are there for the schema. (No
    # docstring: the schema would show it for every shape without a doc.)

    shape: shapes.Shape

    def to_representation(self, instance):
        return self.shape(instance)


@functools.cache
def output(shape: shapes.Shape) -> type[ShapeOutput]:
    """The serializer of ``shape``, named ``<shape name>Output`` in the schema."""
    fields = {name: _field(f) for name, f in shape.fields.items()}
    attributes = {**fields, "shape": shape, "__doc__": shape.doc or None, "__module__": __name__}
    return type(f"{shape.name}Output", (ShapeOutput,), attributes)


def _field(field: shapes.Field) -> serializers.Field:
    options = {"required": field.present is None}
    if field.null:
        options["allow_null"] = True
    if field.help:
        options["help_text"] = field.help
    return _of_kind(field.kind, **options)


def _of_kind(kind, **options) -> serializers.Field:
    if isinstance(kind, shapes.Shape):
        return output(kind)(**options)
    if isinstance(kind, shapes.ListOf):
        if isinstance(kind.item, shapes.Shape):
            return output(kind.item)(many=True, **options)
        return serializers.ListField(child=_of_kind(kind.item), **options)
    if isinstance(kind, shapes.Choice):
        return serializers.ChoiceField(choices=list(kind.values), **options)
    return SCALARS[kind](**options)
