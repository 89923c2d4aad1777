"""The benchmarks' HTTP client: keep-alive connections to the service with
token authentication, each request timed from sending it to reading the
whole answer, and phases of requests sent from concurrent connections.
"""

import http.client
import json
import threading
import time
from typing import NamedTuple
from urllib.parse import urlparse

from bench import common

NO_ANSWER = 0  # the status counted for a request that got no answer


class Answer(NamedTuple):
    status: int
    body: bytes
    seconds: float  # from sending the request to reading the whole answer

    def json(self):
        return json.loads(self.body or b"null")


class ApiClient:
    """One keep-alive HTTP/1.1 connection, with token auth."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30):
        address = urlparse(base_url)
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)

    def request(self, method: str, path: str, body: dict | None = None) -> Answer:
        """``body`` is sent as JSON. A request that times out, or fails twice,
        is answered ``NO_ANSWER``."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                return Answer(response.status, response.read(), time.perf_counter() - started)
            except (http.client.HTTPException, OSError) as error:
                # The next request opens a fresh connection. A kept-alive one
                # the server closed fails at once: that request is sent again.
                self.conn.close()
                if attempt == 2 or isinstance(error, TimeoutError):
                    return Answer(NO_ANSWER, b"", time.perf_counter() - started)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


class Lane(threading.Thread):
    """One client sending its share of a phase's requests, timing each."""

    def __init__(self, *, url: str, token: str, requests: list, barrier: threading.Barrier):
        super().__init__(daemon=True)
        self.client = ApiClient(url, token, timeout=60)
        self.requests = requests
        self.barrier = barrier
        self.timings: list[tuple[str, float, int]] = []  # (label, ms, status)

    def run(self) -> None:
        self.barrier.wait()
        for label, method, path, body in self.requests:
            answer = self.client.request(method, path, body)
            self.timings.append((label, answer.seconds * 1000, answer.status))
        self.client.close()


def run_phase(
    *, urls: list[str], token: str | list[str], requests: list, clients: int
) -> tuple[dict[str, list], float]:
    """Send ``requests`` (label, method, path, JSON body) from ``clients``
    concurrent connections, spread over the servers at ``urls``; timings per
    label, and the phase's wall time in seconds. Given several tokens, each
    connection sends one of them (its user's own)."""
    tokens = [token] if isinstance(token, str) else token
    barrier = threading.Barrier(clients)
    lanes = [
        Lane(
            url=urls[i % len(urls)],
            token=tokens[i % len(tokens)],
            requests=requests[i::clients],
            barrier=barrier,
        )
        for i in range(clients)
    ]
    started = time.perf_counter()
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    seconds = time.perf_counter() - started
    by_label: dict[str, list] = {}
    for lane in lanes:
        for label, ms, status in lane.timings:
            by_label.setdefault(label, []).append((ms, status))
    return by_label, seconds


def summary(samples: list, expected: set[int], seconds: float | None = None) -> dict:
    """Latency percentiles of ``samples`` (ms, status), and the statuses not ``expected``."""
    latencies = [ms for ms, _ in samples]
    p50, p90, p99 = common.percentiles(latencies, 50, 90, 99)
    unexpected = sorted({status for _, status in samples} - expected)
    return {
        "requests": len(samples),
        **({"throughput_rps": round(len(samples) / seconds, 1)} if seconds else {}),
        "p50_ms": round(p50, 2),
        "p90_ms": round(p90, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(max(latencies), 2),
        "unexpected_statuses": unexpected,
    }
