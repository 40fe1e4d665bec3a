"""`nbimages serve` against hostile requests, over a real socket.

Whatever arrives (bogus framing, a body that never ends, JSON nested past any use, a bad
multipart boundary, a web page posting to the control endpoints), the answer is a 4xx in
OpenAI's error shape within about a second, never a hang, a reset or a 500, and the server
keeps serving afterwards. Malformed framing goes through a raw socket, so the exact bytes
are sent; everything else through httpx.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from nbimages.local import start_server

PROMPT = 1.5  # seconds: "within a second", with room for a loaded 2-core machine
HANG = 5.0  # every socket gives up after this, so a hanging server fails the test
MAX_BODY = 64 * 1024  # this server's limit, small so over-limit bodies are cheap to send
FAULT = {"kind": "status", "status": 500}


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with start_server(host="127.0.0.1", port=0, max_body=MAX_BODY) as handle:
        yield handle


@pytest.fixture(autouse=True)
def clean(server: Any, capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """A fresh simulator for each test; and no traceback from a handler thread."""
    server.simulator.reset()
    yield
    assert "Traceback" not in capfd.readouterr().err


# -- talking to the server ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    elapsed: float


def raw_request(*header_lines: str, body: bytes = b"",
                start: str = "POST /v1/images/generations HTTP/1.1") -> bytes:
    head = "\r\n".join([start, "Host: 127.0.0.1", *header_lines]) + "\r\n\r\n"
    return head.encode("latin-1") + body


def exchange(server: Any, data: bytes, *, then_eof: bool = False) -> Reply:
    """Send exactly ``data`` (then end our side if ``then_eof``) and read one response."""
    with socket.create_connection((server.host, server.port), timeout=HANG) as sock:
        started = time.monotonic()
        sock.sendall(data)
        if then_eof:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return Reply(response.status, response.headers, body, time.monotonic() - started)


def timed(send: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = send()
    return response, time.monotonic() - started


def assert_openai_error(status: int, content_type: str | None, body: bytes, elapsed: float,
                        want_status: int, want_code: str | None) -> None:
    assert status == want_status, body[:300]
    assert (content_type or "").startswith("application/json")
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["message"], str) and error["message"]
    assert error["code"] == want_code
    assert elapsed < PROMPT, f"answered after {elapsed:.2f}s"


def assert_reply(reply: Reply, want_status: int, want_code: str | None) -> None:
    assert_openai_error(reply.status, reply.headers.get("Content-Type"), reply.body,
                        reply.elapsed, want_status, want_code)


def assert_response(response: httpx.Response, elapsed: float, want_status: int,
                    want_code: str | None) -> None:
    assert_openai_error(response.status_code, response.headers.get("content-type"),
                        response.content, elapsed, want_status, want_code)


def assert_still_serves(server: Any) -> None:
    response = httpx.get(f"{server.url}/models", timeout=HANG)
    assert response.status_code == 200 and response.json()["object"] == "list"


# -- framing: Content-Length, Transfer-Encoding, request line, headers -------------------------


@dataclass(frozen=True)
class Malformed:
    id: str
    data: bytes
    status: int
    code: str
    then_eof: bool = False  # the client ends its side after sending ``data``


JSON = "Content-Type: application/json"
CHUNKED = "Transfer-Encoding: chunked"


def chunked(body: bytes, *headers: str) -> bytes:
    return raw_request(JSON, CHUNKED, *headers, body=body)


def with_length(length: str, body: bytes = b"{}", *headers: str) -> bytes:
    return raw_request(JSON, f"Content-Length: {length}", *headers, body=body)


MALFORMED = [
    # Content-Length
    Malformed("length-negative", with_length("-5"), 400, "invalid_content_length"),
    Malformed("length-not-a-number", with_length("abc"), 400, "invalid_content_length"),
    Malformed("length-with-plus-sign", with_length("+2"), 400, "invalid_content_length"),
    Malformed("length-with-underscore", with_length("0_2"), 400, "invalid_content_length"),
    Malformed("length-empty", with_length(""), 400, "invalid_content_length"),
    Malformed("length-list", with_length("2, 2"), 400, "invalid_content_length"),
    Malformed("length-twice", with_length("2", b"{}", "Content-Length: 3"), 400,
              "invalid_content_length"),
    Malformed("length-and-chunked", with_length("2", b"{}", CHUNKED), 400,
              "invalid_content_length"),
    Malformed("length-huge", with_length(str(10**12), b""), 413, "request_too_large"),
    Malformed("length-400-digits", with_length("9" * 400, b""), 413, "request_too_large"),
    Malformed("length-over-limit", with_length(str(MAX_BODY + 1), b""), 413,
              "request_too_large"),
    Malformed("length-over-limit-expecting-100-continue",
              with_length(str(10**9), b"", "Expect: 100-continue"), 413, "request_too_large"),
    Malformed("length-more-than-sent", with_length("100"), 408, "request_timeout"),
    Malformed("length-more-than-sent-then-eof", with_length("100"), 400, "incomplete_body",
              then_eof=True),
    # chunked bodies
    Malformed("chunk-size-not-hex", chunked(b"zz\r\n{}\r\n0\r\n\r\n"), 400,
              "invalid_chunked_body"),
    Malformed("chunk-size-0x", chunked(b"0x2\r\n{}\r\n0\r\n\r\n"), 400, "invalid_chunked_body"),
    Malformed("chunk-size-negative", chunked(b"-2\r\n{}\r\n0\r\n\r\n"), 400,
              "invalid_chunked_body"),
    Malformed("chunk-size-missing", chunked(b"\r\n{}\r\n0\r\n\r\n"), 400,
              "invalid_chunked_body"),
    Malformed("chunk-size-line-endless", chunked(b"2;" + b"x" * 10_000), 400,
              "invalid_chunked_body"),
    Malformed("chunk-size-huge", chunked(b"f" * 20 + b"\r\n{}\r\n0\r\n\r\n"), 413,
              "request_too_large"),
    Malformed("chunk-longer-than-its-size", chunked(b"2\r\n{} \r\n0\r\n\r\n"), 400,
              "invalid_chunked_body"),
    Malformed("chunk-shorter-than-its-size", chunked(b"5\r\n{}"), 408, "request_timeout"),
    Malformed("chunks-without-last-chunk", chunked(b"2\r\n{}\r\n"), 408, "request_timeout"),
    Malformed("last-chunk-without-blank-line", chunked(b"2\r\n{}\r\n0\r\n"), 408,
              "request_timeout"),
    Malformed("chunks-then-eof", chunked(b"2\r\n{}\r\n"), 400, "incomplete_body",
              then_eof=True),
    Malformed("chunks-over-limit",
              chunked(b"".join(b"%x\r\n%s\r\n" % (MAX_BODY // 2 + 1, b" " * (MAX_BODY // 2 + 1))
                               for _ in range(2)) + b"0\r\n\r\n"),
              413, "request_too_large"),
    Malformed("trailers-endless", chunked(b"2\r\n{}\r\n0\r\n" + b"X-T: 1\r\n" * 100 + b"\r\n"),
              400, "invalid_chunked_body"),
    Malformed("transfer-encoding-gzip", raw_request(JSON, "Transfer-Encoding: gzip, chunked",
                                                    body=b"2\r\n{}\r\n0\r\n\r\n"),
              400, "invalid_transfer_encoding"),
    Malformed("transfer-encoding-lookalike", raw_request(JSON, "Transfer-Encoding: xchunked",
                                                         body=b"2\r\n{}\r\n0\r\n\r\n"),
              400, "invalid_transfer_encoding"),
    Malformed("chunked-in-http-1.0",
              raw_request(JSON, CHUNKED, body=b"2\r\n{}\r\n0\r\n\r\n",
                          start="POST /v1/images/generations HTTP/1.0"),
              400, "invalid_transfer_encoding"),
    # request line and headers
    Malformed("request-line-stalls", b"POST /v1/images/gen", 408, "request_timeout"),
    Malformed("headers-stall", b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-",
              408, "request_timeout"),
    Malformed("blank-lines-then-nothing", b"\r\n\r\n", 408, "request_timeout"),
    Malformed("blank-lines-only", b"\r\n" * 20, 400, "malformed_request"),
    Malformed("request-line-garbage", b"HELLO\r\n\r\n", 400, "malformed_request"),
    Malformed("request-line-blank-spaces", b"   \r\n\r\n", 400, "malformed_request"),
    Malformed("http-0.9", b"GET /v1/models\r\n\r\n", 400, "malformed_request"),
    Malformed("http-version-bogus", b"GET /v1/models HTTP/one\r\n\r\n", 400,
              "malformed_request"),
    Malformed("method-unknown", raw_request(start="BREW /v1/models HTTP/1.1"), 405,
              "method_not_allowed"),
    Malformed("request-line-too-long",
              raw_request(start="GET /v1/" + "a" * 70_000 + " HTTP/1.1"), 414,
              "request_line_too_long"),
    Malformed("header-line-too-long", raw_request("X-Long: " + "a" * 70_000), 431,
              "headers_too_large"),
    Malformed("headers-too-many", raw_request(*(f"X-H{i}: {i}" for i in range(120))), 431,
              "headers_too_large"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c.id for c in MALFORMED])
def test_malformed_framing_gets_a_prompt_openai_error(server: Any, case: Malformed) -> None:
    reply = exchange(server, case.data, then_eof=case.then_eof)
    assert_reply(reply, case.status, case.code)
    assert reply.headers.get("Connection") == "close"  # the rest of the stream is garbage
    assert_still_serves(server)


def test_a_body_larger_than_the_limit_that_keeps_coming_still_gets_its_413(server: Any) -> None:
    """The error goes out before the body is read; it must not be lost in a reset."""
    size = MAX_BODY * 16
    reply = exchange(server, with_length(str(size), b"x" * size))
    assert_reply(reply, 413, "request_too_large")
    assert_still_serves(server)


def test_a_pause_shorter_than_the_read_timeout_is_fine(server: Any) -> None:
    body = json.dumps({"prompt": "a red circle", "size": "256x256"}).encode()
    with socket.create_connection((server.host, server.port), timeout=HANG) as sock:
        sock.sendall(with_length(str(len(body)), b""))
        for piece in (body[:10], body[10:20], body[20:]):
            time.sleep(0.3)
            sock.sendall(piece)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200, response.read()[:300]
        assert json.loads(response.read())["data"]


def test_valid_chunked_body_with_extensions_and_trailers_is_served(server: Any) -> None:
    body = json.dumps({"prompt": "a red circle", "size": "256x256"}).encode()
    framed = (b"%x;name=value\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n"
              % (10, body[:10], len(body) - 10, body[10:]))
    reply = exchange(server, chunked(framed))
    assert reply.status == 200, reply.body[:300]
    assert json.loads(reply.body)["data"]


def test_an_error_after_a_complete_body_keeps_the_connection(server: Any) -> None:
    """A well-framed request with a bad body is answered and the connection stays usable."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=HANG)
    try:
        connection.request("POST", "/v1/images/generations", body=b"[]",
                           headers={"Content-Type": "application/json"})
        first = connection.getresponse()
        assert first.status == 400 and json.loads(first.read())["error"]["code"] == "invalid_json"
        used = connection.sock
        connection.request("GET", "/v1/models")
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read())["object"] == "list"
        assert connection.sock is used
    finally:
        connection.close()


# -- bodies: JSON and multipart ----------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@dataclass(frozen=True)
class BadBody:
    id: str
    body: bytes
    content_type: str | None
    status: int
    code: str | None
    path: str = "/images/generations"
    says: str = ""  # in the message, when the code does not tell which check refused it


BAD_BODIES = [
    BadBody("json-nested-20000-arrays", nested(20_000), "application/json", 400,
            "json_too_deep"),
    BadBody("json-nested-65-objects", nested_objects(65), "application/json", 400,
            "json_too_deep"),
    BadBody("json-nested-as-text-plain", nested(20_000), "text/plain", 400, "json_too_deep"),
    BadBody("json-nested-without-content-type", b"  \n" + nested(20_000), None, 400,
            "json_too_deep"),
    BadBody("json-nested-to-responses", nested(20_000), "application/json", 400,
            "json_too_deep", "/responses"),
    BadBody("json-nested-to-the-fault-endpoint", nested(20_000), "application/json", 400,
            "json_too_deep", "/_simulator/faults"),
    BadBody("json-invalid-utf-8", b'{"prompt": "caf\xe9"}', "application/json", 400,
            "invalid_utf8"),
    BadBody("json-utf-16", '{"prompt": "x"}'.encode("utf-16"), "application/json", 400,
            "invalid_utf8"),
    BadBody("json-syntax", b'{"prompt": ', "application/json", 400, "invalid_json"),
    BadBody("json-array", b'["a red circle"]', "application/json", 400, "invalid_json"),
    BadBody("json-string", b'"a red circle"', "application/json", 400, "invalid_json"),
    BadBody("json-number", b"42", "application/json", 400, "invalid_json"),
    BadBody("json-null", b"null", "application/json", 400, "invalid_json"),
    BadBody("multipart-without-boundary", b"--x\r\n\r\n--x--\r\n", "multipart/form-data",
            400, None, "/images/edits", "with a boundary"),
    BadBody("multipart-boundary-not-latin-1", b"--x\r\n\r\n--x--\r\n",
            "multipart/form-data; boundary*=utf-8''%E2%82%AC", 400, None, "/images/edits",
            "boundary must be"),
    BadBody("multipart-boundary-too-long", b"--" + b"b" * 71 + b"\r\n\r\n--x--\r\n",
            "multipart/form-data; boundary=" + "b" * 71, 400, None, "/images/edits",
            "boundary must be"),
    BadBody("multipart-boundary-not-in-body", b"prompt=x", "multipart/form-data; boundary=zz",
            400, None, "/images/edits", "boundary not found"),
    BadBody("multipart-without-closing-boundary",
            b'--zz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx',
            "multipart/form-data; boundary=zz", 400, None, "/images/edits", "no closing boundary"),
    BadBody("multipart-too-many-parts",
            b'--zz\r\nContent-Disposition: form-data; name="p"\r\n\r\nx\r\n' * 1001 + b"--zz--\r\n",
            "multipart/form-data; boundary=zz", 400, None, "/images/edits", "more than 1000 parts"),
    BadBody("multipart-mixed", b"--zz\r\n\r\nx\r\n--zz--\r\n", "multipart/mixed; boundary=zz",
            400, None, "/images/edits", "expected multipart/form-data"),
]


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c.id for c in BAD_BODIES])
def test_bad_bodies_get_a_prompt_openai_error(server: Any, case: BadBody) -> None:
    headers = {"content-type": case.content_type} if case.content_type else {}
    response, elapsed = timed(lambda: httpx.post(f"{server.url}{case.path}", content=case.body,
                                                 headers=headers, timeout=HANG))
    assert_response(response, elapsed, case.status, case.code)
    assert case.says in response.json()["error"]["message"]
    assert server.simulator.faults.pending == []
    assert_still_serves(server)


def test_json_nested_up_to_the_limit_is_accepted(server: Any) -> None:
    body = b'{"prompt": "a red circle", "size": "256x256", "metadata": ' + nested(63) + b"}"
    response = httpx.post(f"{server.url}/images/generations", content=body,
                          headers={"content-type": "application/json"}, timeout=HANG)
    assert response.status_code != 400 or response.json()["error"]["code"] != "json_too_deep"
    assert response.status_code < 500


def test_a_chunked_upload_from_httpx_is_served(server: Any) -> None:
    body = json.dumps({"prompt": "a red circle", "size": "256x256"}).encode()
    response = httpx.post(f"{server.url}/images/generations", timeout=HANG,
                          content=iter([body[:7], body[7:]]),
                          headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert server.simulator.requests[-1].json["prompt"] == "a red circle"


# -- the control endpoints and web pages ------------------------------------------------------


@dataclass(frozen=True)
class CrossSite:
    id: str
    headers: dict[str, str]
    status: int
    code: str
    method: str = "POST"
    path: str = "/_simulator/faults"


CROSS_SITE = [
    CrossSite("form-urlencoded", {"content-type": "application/x-www-form-urlencoded"}, 415,
              "unsupported_media_type"),
    CrossSite("form-text-plain", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    CrossSite("form-multipart", {"content-type": "multipart/form-data; boundary=zz"}, 415,
              "unsupported_media_type"),
    CrossSite("no-content-type", {}, 415, "unsupported_media_type"),
    CrossSite("reset-as-a-form", {"content-type": "text/plain"}, 415, "unsupported_media_type",
              path="/_simulator/reset"),
    CrossSite("foreign-origin", {"content-type": "application/json",
                                 "origin": "http://evil.example"}, 403, "cross_site_request"),
    CrossSite("null-origin", {"content-type": "application/json", "origin": "null"}, 403,
              "cross_site_request"),
    CrossSite("other-local-port", {"content-type": "application/json",
                                   "origin": "http://127.0.0.1:1"}, 403, "cross_site_request"),
    CrossSite("sec-fetch-cross-site", {"content-type": "application/json",
                                       "sec-fetch-site": "cross-site"}, 403,
              "cross_site_request"),
    CrossSite("sec-fetch-same-site", {"content-type": "application/json",
                                      "sec-fetch-site": "same-site"}, 403, "cross_site_request"),
    CrossSite("dns-rebinding", {"content-type": "application/json", "host": "evil.example",
                                "origin": "http://evil.example"}, 403, "cross_site_request"),
    CrossSite("reset-from-a-page", {"content-type": "application/json",
                                    "origin": "http://evil.example"}, 403, "cross_site_request",
              path="/_simulator/reset"),
    CrossSite("delete-from-a-page", {"origin": "http://evil.example"}, 403, "cross_site_request",
              method="DELETE"),
    CrossSite("read-requests-from-a-page", {"sec-fetch-site": "cross-site"}, 403,
              "cross_site_request", method="GET", path="/_simulator/requests"),
    CrossSite("preflight", {"origin": "http://evil.example",
                            "access-control-request-method": "POST"}, 405,
              "method_not_allowed", method="OPTIONS"),
]


@pytest.mark.parametrize("case", CROSS_SITE, ids=[c.id for c in CROSS_SITE])
def test_web_pages_cannot_use_the_control_endpoints(server: Any, case: CrossSite) -> None:
    server.simulator.faults.add("drop", path="/nowhere")  # reset and DELETE would remove it
    before = [f.to_dict() for f in server.simulator.faults.pending]
    body = json.dumps(FAULT).encode() if case.method == "POST" else b""
    response, elapsed = timed(lambda: httpx.request(
        case.method, f"{server.url}{case.path}", content=body, headers=case.headers,
        timeout=HANG))
    assert_response(response, elapsed, case.status, case.code)
    assert "access-control-allow-origin" not in response.headers
    assert [f.to_dict() for f in server.simulator.faults.pending] == before
    assert_still_serves(server)


LOCAL_CLIENTS: dict[str, Callable[[int], dict[str, str]]] = {
    "script": lambda port: {},
    "same-origin-page": lambda port: {"origin": f"http://127.0.0.1:{port}",
                                      "sec-fetch-site": "same-origin"},
    "typed-by-the-user": lambda port: {"sec-fetch-site": "none"},
    "localhost-page": lambda port: {"host": f"localhost:{port}",
                                    "origin": f"http://localhost:{port}"},
}


@pytest.mark.parametrize("name", LOCAL_CLIENTS)
def test_local_clients_can_use_the_control_endpoints(server: Any, name: str) -> None:
    response = httpx.post(f"{server.url}/_simulator/faults", json=[FAULT, FAULT],
                          headers=LOCAL_CLIENTS[name](server.port), timeout=HANG)
    assert response.status_code == 200, response.text
    assert len(server.simulator.faults.pending) == 2
