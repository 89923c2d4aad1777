"""An HTTP request's ASGI scope, as a server (uvicorn) hands it to an app,
for tests that call an ASGI app directly."""


def http_scope(
    path: str = "/mcp/",
    *,
    method: str = "POST",
    scheme: str = "http",
    query: bytes = b"",
    headers=((b"host", b"testserver"),),
) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "server": ("testserver", 443 if scheme == "https" else 80),
        "client": ("127.0.0.1", 5000),
        "headers": list(headers),
    }
