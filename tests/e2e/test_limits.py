"""Limits: command line length, bad commands, idle and command timeouts,
connection limits, HTTP-looking input."""

import select
import socket
import time

import pytest

from conftest import WAIT, assert_reply, b64, tls_client_context


def test_line_too_long(submitd):
    s = submitd({"limits": {"max_command_line": 512}})
    with s.connect() as c:
        c.greeting()
        c.ehlo()
        r = c.cmd("NOOP " + "x" * 600)
        assert_reply(r, 500, "5.5.2")
        # The rest of the long line was discarded: the next reply is the NOOP's.
        assert_reply(c.cmd("NOOP"), 250)
        c.send(b"QUIT\r\n")
        assert [x.code for x in c.replies_until_eof(timeout=10)] == [221]


def test_line_too_long_arriving_in_pieces(submitd):
    s = submitd({"limits": {"max_command_line": 512}})
    with s.connect() as c:
        c.greeting()
        c.send(b"MAIL FROM:<" + b"a" * 700)
        c.send(b"b" * 700)
        c.send(b"RCPT TO:<x@example.org>\r\nNOOP\r\nQUIT\r\n")
        replies = c.replies_until_eof(timeout=10)
        assert [(r.code, r.enhanced) for r in replies] == [
            (500, "5.5.2"), (250, "2.0.0"), (221, "2.0.0")], replies


def test_line_length_boundary(submitd):
    """max_command_line counts the line without its CRLF."""
    s = submitd({"limits": {"max_command_line": 512}})
    with s.connect() as c:
        c.greeting()
        # NOOP takes an optional string (RFC 5321 4.1.1.9): 512 and 513 bytes.
        assert_reply(c.cmd("NOOP " + "x" * (512 - 5)), 250)
        assert_reply(c.cmd("NOOP " + "x" * (513 - 5)), 500, "5.5.2")
        assert_reply(c.cmd("NOOP"), 250)


def test_unknown_command_line_too_long(submitd):
    """An over-long line is 500 5.5.2 whatever its verb."""
    s = submitd({"limits": {"max_command_line": 512}})
    with s.connect() as c:
        c.greeting()
        assert_reply(c.cmd("XYZZY " + "x" * 600), 500, "5.5.2")
        assert_reply(c.cmd("NOOP"), 250)


def test_auth_line_limit(submitd, certs):
    s = submitd({"limits": {"max_auth_line": 1024}})
    with s.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        c.greeting()
        c.ehlo()
        assert c.cmd("AUTH LOGIN").code == 334
        r = c.cmd(b64("u" * 2000))
        assert r.code in (500, 501) and r.enhanced == "5.5.2", str(r)
        r = c.cmd("NOOP")
        assert_reply(r, 250)


def test_bad_command_limit(submitd):
    s = submitd({"limits": {"max_bad_commands": 3}})
    mark = s.mark()
    with s.connect() as c:
        c.greeting()
        assert_reply(c.cmd("BADONE"), 500, "5.5.1")
        assert_reply(c.cmd("BADTWO"), 500, "5.5.1")
        c.send(b"BADTHREE\r\n")
        replies = c.replies_until_eof(timeout=10)
        assert replies and (replies[-1].code, replies[-1].enhanced) == (421, "4.7.0"), replies
        assert [r.code for r in replies[:-1]] in ([], [500]), replies
    s.wait_event("disconnect", after=mark)


def test_bad_command_limit_counts_consecutive(submitd):
    """A good command resets the count. (NOOP, RSET, HELP and QUIT are
    "junk" as in Postfix and do not: see test_junk_commands_do_not_reset.)"""
    s = submitd({"limits": {"max_bad_commands": 3}})
    with s.connect() as c:
        c.greeting()
        for _ in range(3):
            assert_reply(c.cmd("BAD"), 500, "5.5.1")
            assert_reply(c.cmd("BAD"), 500, "5.5.1")
            assert_reply(c.cmd("EHLO client.test"), 250)
        c.send(b"QUIT\r\n")
        assert [x.code for x in c.replies_until_eof(timeout=10)] == [221]


def test_junk_commands_do_not_reset(submitd):
    s = submitd({"limits": {"max_bad_commands": 3}})
    with s.connect() as c:
        c.greeting()
        assert_reply(c.cmd("BAD"), 500, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250)
        assert_reply(c.cmd("BAD"), 500, "5.5.1")
        assert_reply(c.cmd("RSET"), 250)
        c.send(b"BAD\r\n")
        replies = c.replies_until_eof(timeout=10)
        assert replies[-1].code == 421 and replies[-1].enhanced == "4.7.0", replies


def test_bad_command_limit_pipelined(submitd):
    """Many bad commands in one write: at most the limit is answered, then 421."""
    s = submitd({"limits": {"max_bad_commands": 3}})
    with s.connect() as c:
        c.greeting()
        try:
            c.send(b"BAD\r\n" * 50 + b"NOOP\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        replies = c.replies_until_eof(timeout=10)
        codes = [r.code for r in replies]
        assert codes[-1] == 421 and replies[-1].enhanced == "4.7.0", replies
        assert codes.count(500) <= 3 and 250 not in codes, codes


def test_idle_timeout(submitd):
    s = submitd({"limits": {"idle_timeout": 1.0}})
    mark = s.mark()
    with s.connect() as c:
        c.greeting()
        t0 = time.monotonic()
        replies = c.replies_until_eof(timeout=WAIT)
        elapsed = time.monotonic() - t0
    assert [(r.code, r.enhanced) for r in replies] == [(421, "4.4.2")], replies
    assert elapsed >= 0.9, f"closed after {elapsed:.2f}s, idle_timeout is 1.0"
    ev = s.wait_event("disconnect", after=mark)
    assert ev.get("reason"), ev.line


def test_idle_timeout_after_ehlo_and_tls(submitd, certs):
    s = submitd({"limits": {"idle_timeout": 1.0}})
    with s.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        c.greeting()
        c.ehlo()
        replies = c.replies_until_eof(timeout=WAIT)
    assert [(r.code, r.enhanced) for r in replies] == [(421, "4.4.2")], replies


def test_activity_resets_idle_timeout(submitd):
    s = submitd({"limits": {"idle_timeout": 1.5}})
    with s.connect() as c:
        c.greeting()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            assert_reply(c.cmd("NOOP"), 250)
            time.sleep(0.5)
        assert_reply(c.cmd("NOOP"), 250)


def test_command_timeout_slowloris(submitd):
    """Trickled bytes do not extend the deadline of a command line."""
    s = submitd({"limits": {"idle_timeout": 30.0, "command_timeout": 1.0}})
    with s.connect() as c:
        c.greeting()
        t0 = time.monotonic()
        closed, data = False, b""
        for i in range(60):  # one byte every 0.2 s, for up to 12 s
            try:
                c.send(b"NOOP " if i == 0 else b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            readable, _, _ = select.select([c.sock], [], [], 0.2)
            if readable:
                data = c.read_until_eof(timeout=WAIT)
                closed = True
                break
        elapsed = time.monotonic() - t0
    assert closed, "a trickled command line kept the session open"
    assert elapsed < 8, f"closed only after {elapsed:.1f}s, command_timeout is 1.0"
    assert data == b"" or data.startswith(b"421 "), data


def test_connection_limit_per_ip(submitd):
    s = submitd({"limits": {"max_connections_per_ip": 2, "max_connections": 100}})
    mark = s.mark()
    a = s.connect()
    b = s.connect()
    try:
        assert_reply(a.greeting(), 220)
        assert_reply(b.greeting(), 220)
        with s.connect() as c:
            replies = c.replies_until_eof(timeout=10)
            assert [(r.code, r.enhanced) for r in replies] == [(421, "4.7.0")], replies
        # Another address is not limited by 127.0.0.1's count.
        with s.connect(source="127.0.0.2") as d:
            assert_reply(d.greeting(), 220)
        # Free one slot; after the server noticed, a new connection gets in.
        a.cmd("QUIT")
        a.close()
        s.wait_event("disconnect", after=mark, count=3)
        with s.connect() as e:
            assert_reply(e.greeting(), 220)
    finally:
        a.close()
        b.close()


def test_connection_limit_total(submitd):
    s = submitd({"limits": {"max_connections_per_ip": 100, "max_connections": 2}})
    a = s.connect()
    b = s.connect(source="127.0.0.2")
    try:
        assert_reply(a.greeting(), 220)
        assert_reply(b.greeting(), 220)
        with s.connect(source="127.0.0.3") as c:
            replies = c.replies_until_eof(timeout=10)
            assert [(r.code, r.enhanced) for r in replies] == [(421, "4.7.0")], replies
    finally:
        a.close()
        b.close()


def test_connection_limit_on_implicit_listener(submitd, certs):
    s = submitd({"limits": {"max_connections_per_ip": 1}})
    ctx = tls_client_context(certs.bundle)
    with s.connect("submissions", tls=ctx) as a:
        assert_reply(a.greeting(), 220)
        with s.connect("submissions", tls=ctx) as c:
            replies = c.replies_until_eof(timeout=10)
            assert [(r.code, r.enhanced) for r in replies] == [(421, "4.7.0")], replies


@pytest.mark.parametrize("line", [
    b"GET / HTTP/1.1\r\nHost: mx.test\r\n\r\n",
    b"POST /submit HTTP/1.1\r\nHost: mx.test\r\nContent-Length: 0\r\n\r\n",
    b"CONNECT mx.test:443 HTTP/1.1\r\nHost: mx.test\r\n\r\n",
])
def test_http_closes_at_once(server, line):
    mark = server.mark()
    with server.connect() as c:
        c.greeting()
        t0 = time.monotonic()
        try:
            c.send(line)
        except (BrokenPipeError, ConnectionResetError):
            pass
        replies = c.replies_until_eof(timeout=5)
        elapsed = time.monotonic() - t0
    # At most one reply (to the request line); nothing for the headers.
    assert len(replies) <= 1, replies
    assert all(r.code != 250 for r in replies), replies
    assert elapsed < 5
    server.wait_event("disconnect", after=mark)


def test_http_as_first_bytes_without_greeting_read(server):
    host, port = server.addr("submission")
    with socket.create_connection((host, port), timeout=WAIT) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        s.settimeout(5)
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    lines = [l for l in data.split(b"\r\n") if l]
    assert len(lines) <= 2, data  # the greeting and at most one reply


def test_rejected_connections_release_their_slot(submitd):
    s = submitd({"limits": {"max_connections_per_ip": 1}})
    mark = s.mark()
    with s.connect() as a:
        assert_reply(a.greeting(), 220)
        for _ in range(3):
            with s.connect() as c:
                replies = c.replies_until_eof(timeout=10)
                assert [(r.code, r.enhanced) for r in replies] == [(421, "4.7.0")], replies
        a.cmd("QUIT")
    s.wait_event("disconnect", after=mark, count=4)
    for _ in range(2):
        with s.connect() as c:
            assert_reply(c.greeting(), 220)
            c.cmd("QUIT")
            c.read_until_eof(timeout=10)
