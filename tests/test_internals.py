"""The private parts of Django, DRF and psycopg the web tier relies on
(docs/internals.md), pinned to the versions they were reviewed against.

Each relied-on function or class is fingerprinted by its source: a Django,
DRF, asgiref or psycopg upgrade that changes one fails here with a sentence
naming the installed version, the part that relies on it and what to do.
The parts' behaviour is held by their own tests beside (test_prepared,
test_writes, test_asgi, test_throttling), which also compare with stock.
"""

import hashlib
import importlib
import inspect
from importlib.metadata import version

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env as project_settings
from config import versions

# part -> {"module:qualified.name": sha256 of its source, first 16 hex digits}
FINGERPRINTS = {
    "asgi": {
        "django.core.handlers.asgi:ASGIHandler.__call__": "f756809e9c9308dc",
        "django.core.handlers.asgi:ASGIHandler.handle": "98faeb5bef800331",
        "django.core.handlers.asgi:ASGIHandler.read_body": "cf4aa904631d5410",
        "django.core.handlers.asgi:ASGIHandler.create_request": "5eae59c6696013ff",
        "django.core.handlers.asgi:ASGIHandler.send_response": "77eda2b08689b44e",
        "django.core.handlers.asgi:ASGIHandler.listen_for_disconnect": "c729aa315c734f98",
        "django.core.handlers.asgi:ASGIHandler.run_get_response": "0234ea5fe09a5777",
        "django.core.handlers.asgi:get_script_prefix": "bd6e761a557ee4c5",
        "django.core.handlers.base:BaseHandler.load_middleware": "a1fb7ee5f8586195",
        "asgiref.sync:ThreadSensitiveContext": "da8ec00f861b8bdf",
    },
    "prepared": {
        "django.db.models.query:ModelIterable.__iter__": "c2a744b8c18e0b4a",
        "django.db.models.query:FlatValuesListIterable.__iter__": "d5ef4d1d9df2c7f1",
        "django.db.models.query:get_related_populators": "979430eb75b93969",
        "django.db.models.query:RelatedPopulator": "4cc87fb0e18cb0ce",
        "django.db.models.query:QuerySet.__init__": "35d93a4d074deed1",
        "django.db.models.query:prefetch_one_level": "80f1773ec0be528f",
        "django.db.models.sql.compiler:SQLCompiler.setup_query": "a426aa7c0cfa3024",
        "django.db.models.sql.compiler:SQLCompiler.get_select": "12c5003d7ab4bf35",
        "django.db.models.sql.compiler:SQLCompiler.get_converters": "c6c8c1b71882ee8b",
        "django.db.models.sql.compiler:SQLCompiler.apply_converters": "c034ce3e5090aa2e",
        "django.db.models.fields.related_descriptors:create_reverse_many_to_one_manager": (
            "3d4329019191b419"
        ),
        "django.db.backends.utils:CursorWrapper.__init__": "64f0525dd864b458",
        "rest_framework.request:Request.__getattr__": "8c04ebb30b25d4cf",
        "rest_framework.authentication:TokenAuthentication.authenticate": "122a6776ae62956f",
    },
    "writes": {
        "django.db.models.sql.subqueries:UpdateQuery.add_update_values": "b6dd3a9720052bea",
        "django.db.models.sql.compiler:SQLUpdateCompiler.as_sql": "3fd8726c853d7528",
        "django.db.models.sql.compiler:SQLCompiler.get_converters": "c6c8c1b71882ee8b",
        "django.db.models.sql.compiler:SQLCompiler.apply_converters": "c034ce3e5090aa2e",
        "django.db.models.base:Model._prepare_related_fields_for_save": "d6d6a4ed2512cbb5",
        "django.db.models.base:Model.refresh_from_db": "b30116005da707c3",
    },
    "throttle": {
        "rest_framework.throttling:SimpleRateThrottle": "39a4a7d3d3c02428",
        "rest_framework.throttling:UserRateThrottle.get_cache_key": "f83d79f672f4f70c",
        "rest_framework.throttling:AnonRateThrottle.get_cache_key": "32ab4198a3b5b56c",
    },
}

DISTRIBUTIONS = {
    "django": "Django",
    "rest_framework": "djangorestframework",
    "asgiref": "asgiref",
    "psycopg": "psycopg",
}


def source_of(path: str) -> str:
    module, _, name = path.partition(":")
    found = importlib.import_module(module)
    for attribute in name.split("."):
        found = getattr(found, attribute)
    return inspect.getsource(found)


def fingerprint(path: str) -> str:
    return hashlib.sha256(source_of(path).encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("part", "path"),
    [(part, path) for part, paths in FINGERPRINTS.items() for path in paths],
    ids=lambda value: value,
)
def test_what_a_private_api_part_relies_on_is_unchanged(part, path):
    distribution = DISTRIBUTIONS[path.split(".", 1)[0]]
    assert fingerprint(path) == FINGERPRINTS[part][path], (
        f"{distribution} {version(distribution)} changed {path}, which the "
        f"{part!r} part relies on (docs/internals.md). Review the part against the new "
        "code, or serve stock Django with PRIVATE_APIS=none; then record the new "
        "fingerprint here and the version in config/versions.py."
    )


def test_every_part_has_its_fingerprints():
    assert set(FINGERPRINTS) == set(project_settings.PRIVATE_API_PARTS)


def test_the_versions_installed_are_the_ones_tested():
    assert versions.untested() == {}, (
        f"installed {versions.untested()}, but the private-API parts are tested with "
        f"{versions.TESTED} (config/versions.py)"
    )


def test_a_start_on_an_untested_minor_version_refuses_with_a_sentence(monkeypatch):
    monkeypatch.setattr(
        versions, "version", lambda name: "5.3.1" if name == "Django" else version(name)
    )
    with pytest.raises(ImproperlyConfigured) as refused:
        versions.check(frozenset({"asgi"}))
    sentence = str(refused.value)
    assert "Django 5.3.1 is installed" in sentence
    assert "tested with Django 5.2" in sentence
    assert "PRIVATE_APIS=none" in sentence
    versions.check(frozenset())  # stock Django starts on any version


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        (None, {"asgi", "prepared", "writes", "throttle"}),
        ("all", {"asgi", "prepared", "writes", "throttle"}),
        ("none", set()),
        ("prepared, writes", {"prepared", "writes"}),
        ("Prepared", {"prepared"}),
    ],
)
def test_private_apis_names_the_parts_on(monkeypatch, value, parts):
    if value is None:
        monkeypatch.delenv("PRIVATE_APIS", raising=False)
    else:
        monkeypatch.setenv("PRIVATE_APIS", value)
    assert project_settings.env_parts("PRIVATE_APIS") == parts


def test_private_apis_refuses_a_part_it_does_not_know(monkeypatch):
    monkeypatch.setenv("PRIVATE_APIS", "prepared,fast")
    with pytest.raises(ImproperlyConfigured, match="names fast: it takes all, none, or some"):
        project_settings.env_parts("PRIVATE_APIS")


def test_stock_django_is_one_setting_away(settings):
    from django.core.handlers.asgi import ASGIHandler

    from config.handler import SyncMiddlewareASGIHandler, django_handler

    settings.PRIVATE_APIS = frozenset()
    assert type(django_handler()) is ASGIHandler  # what get_asgi_application() gives
    settings.PRIVATE_APIS = frozenset({"asgi"})
    assert isinstance(django_handler(), SyncMiddlewareASGIHandler)
