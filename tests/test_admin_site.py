"""Every model's admin, ours and Django's own apps', answers an action on
malformed keys with a message, never a server error."""

import pytest
from django.contrib import admin
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def changelists():
    for model, model_admin in admin.site._registry.items():
        if model._meta.managed:
            yield f"/admin/{model._meta.app_label}/{model._meta.model_name}/", model_admin


@pytest.mark.parametrize("selected", [["not-a-key"], ["1", "x" * 40], ["\x00"]])
def test_an_action_on_malformed_keys_is_refused_with_a_message(selected):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    tried = 0
    for url, model_admin in changelists():
        request = type("Request", (), {"user": superuser, "GET": {}, "POST": {}})()
        for action, _ in model_admin.get_action_choices(request)[1:]:
            data = {"action": action, "_selected_action": selected, "index": 0}
            response = client.post(url, data, follow=True)
            assert response.status_code == 200, (url, action, response.status_code)
            assert "cannot exist" in response.content.decode(), (url, action)
            tried += 1
    assert tried >= 8
