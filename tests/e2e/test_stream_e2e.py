"""The live stream served by a real uvicorn: a member removed from the project
stops receiving its events within 5 seconds, while the others keep theirs; a
user holds at most so many streams, and one left is given back."""

import http.client
import threading

import pytest
from django.conf import settings
from django.test import Client

from ingest.models import Membership, Role
from jobs import events
from tests.conftest import WebProcess, wait_for
from tests.factories import IngestJobFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.e2e]

REMOVED_MEMBER_DEADLINE = 5.0  # seconds, as the product promises


class Stream:
    """One open event stream, read on a thread of its own."""

    def __init__(self, server: WebProcess, project, user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.connection.request(
            "GET",
            f"/projects/{project.pk}/events/?new=1",
            headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
        )
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.lines: list[str] = []
        self.ended = threading.Event()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.ended.set()

    def _read(self):
        try:
            while line := self.response.readline():
                self.lines.append(line.decode())
        except (OSError, ValueError, AttributeError):
            pass  # closed by the test meanwhile
        finally:
            self.ended.set()

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def close(self):
        self.connection.close()


def test_a_removed_member_stream_stops_within_5_seconds(start_web, project):
    server = start_web()
    leaving, staying = UserFactory(), UserFactory()
    MembershipFactory(project=project, user=leaving, role=Role.MEMBER)
    MembershipFactory(project=project, user=staying, role=Role.VIEWER)
    streams = [Stream(server, project, leaving), Stream(server, project, staying)]
    try:
        assert [s.status for s in streams] == [200, 200]
        wait_for(lambda: all(s.saw(": connected") for s in streams), message="both streams")
        removed, kept = streams

        Membership.objects.filter(project=project, user=leaving).delete()

        assert removed.ended.wait(REMOVED_MEMBER_DEADLINE), "the removed member's stream is open"
        job = IngestJobFactory(project=project, name="after the removal")
        events.publish_transition(job, "", "queued", "create")
        wait_for(lambda: kept.saw(str(job.pk)), timeout=10, message="the event on the kept stream")
        assert not kept.ended.is_set()
        assert not removed.saw("event: job")
        # Reconnecting, as a browser does, is refused like any non-member.
        again = Stream(server, project, leaving)
        assert again.status == 404
        again.close()
    finally:
        for stream in streams:
            stream.close()


def test_a_user_past_the_stream_limit_gets_429_until_a_stream_is_left(start_web, project, user):
    # One web process: the limit is counted in each.
    server = start_web(INGEST_MAX_STREAMS_PER_USER="2", WEB_CONCURRENCY="1")
    other = UserFactory()
    MembershipFactory(project=project, user=other, role=Role.VIEWER)
    streams = [Stream(server, project, user) for _ in range(2)]
    try:
        assert [s.status for s in streams] == [200, 200]
        wait_for(lambda: all(s.saw(": connected") for s in streams), message="both streams")
        refused = Stream(server, project, user)
        assert refused.status == 429
        assert refused.response.getheader("Retry-After") == "30"
        assert refused.response.read().decode().startswith("You follow 2 live pages already")
        refused.close()
        streams.append(Stream(server, project, other))  # another user's own allowance
        assert streams[-1].status == 200

        streams.pop(0).close()  # the client leaves: the server gives its place back

        def reopened():
            stream = Stream(server, project, user)
            streams.append(stream)
            return stream.status == 200

        wait_for(reopened, timeout=10, interval=0.5, message="a place given back")
    finally:
        for stream in streams:
            stream.close()
