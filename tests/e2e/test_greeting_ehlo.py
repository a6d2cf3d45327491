"""Greeting, EHLO/HELO, the simple commands and the pre-login refusals."""

import re

import pytest

from conftest import (HOSTNAME, PASSWORD, USER, assert_reply, plain_ir,
                      tls_client_context)

LOCAL_CAPS = ["PIPELINING", "SIZE", "ENHANCEDSTATUSCODES", "CHUNKING", "VRFY"]


def auth_mechs(caps: dict) -> list[str]:
    return caps.get("AUTH", [])


def test_greeting(server):
    with server.connect() as c:
        r = c.greeting()
        assert_reply(r, 220)
        assert len(r.lines) == 1
        assert re.fullmatch(rf"{re.escape(HOSTNAME)} ESMTP submitd", r.text), str(r)


def test_greeting_banner_configurable(submitd):
    s = submitd({"server": {"banner": "Test Banner 1.0"}})
    with s.connect() as c:
        r = c.greeting()
        assert str(r) == f"220 {HOSTNAME} ESMTP Test Banner 1.0"


@pytest.mark.parametrize("workers", [1, 2])
def test_ehlo_before_tls(submitd, workers):
    s = submitd({"server": {"workers": workers}})
    ready = s.events("ready")
    assert ready and ready[0].get("workers") == str(workers), ready
    with s.connect() as c:
        c.greeting()
        r = c.ehlo()
        assert r.lines[0].split()[0] == HOSTNAME, str(r)
        caps = r.capabilities()
        for cap in LOCAL_CAPS + ["STARTTLS"]:
            assert cap in caps, f"{cap} missing from {r}"
        # No usable mechanism without TLS: PLAIN and LOGIN must not be offered.
        assert "PLAIN" not in auth_mechs(caps), str(r)
        assert "LOGIN" not in auth_mechs(caps), str(r)
        assert "BURL" not in caps, "BURL offered without an IMAP server"
        assert_reply(c.cmd("QUIT"), 221)


def test_ehlo_after_starttls(server, certs):
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        c.starttls(tls_client_context(certs.bundle))
        r = c.ehlo()
        caps = r.capabilities()
        assert "STARTTLS" not in caps, str(r)
        for cap in LOCAL_CAPS:
            assert cap in caps, f"{cap} missing from {r}"
        assert auth_mechs(caps) == ["PLAIN", "LOGIN"], str(r)


def test_ehlo_on_implicit_tls(server, certs):
    with server.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        assert_reply(c.greeting(), 220)
        r = c.ehlo()
        caps = r.capabilities()
        assert "STARTTLS" not in caps, str(r)
        assert auth_mechs(caps) == ["PLAIN", "LOGIN"], str(r)
        for cap in LOCAL_CAPS:
            assert cap in caps, f"{cap} missing from {r}"


def test_mechanism_order_follows_config(submitd, certs):
    s = submitd({"auth": {"mechanisms": ["LOGIN", "PLAIN"]}})
    with s.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        c.greeting()
        assert auth_mechs(c.ehlo().capabilities()) == ["LOGIN", "PLAIN"]


def test_size_has_a_number(server):
    with server.connect() as c:
        c.greeting()
        size = c.ehlo().capabilities()["SIZE"]
        assert len(size) <= 1
        if size:
            assert size[0].isdigit(), size


def test_plaintext_auth_when_allowed(submitd):
    s = submitd({"auth": {"allow_plaintext_auth": True}})
    with s.connect() as c:
        c.greeting()
        caps = c.ehlo().capabilities()
        assert "PLAIN" in auth_mechs(caps) and "LOGIN" in auth_mechs(caps), caps
        assert_reply(c.cmd(f"AUTH PLAIN {plain_ir()}"), 235, "2.7.0")
    s.wait_event("login", user=USER, mechanism="PLAIN")


def test_no_auth_before_tls(server):
    mark = server.mark()
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        r = c.cmd(f"AUTH PLAIN {plain_ir()}")
        assert r.code in (504, 530, 538), f"AUTH on plaintext without allow_plaintext_auth: {r}"
        r = c.cmd("AUTH LOGIN")
        assert r.code in (504, 530, 538), f"AUTH LOGIN on plaintext: {r}"
        # The session survives.
        assert_reply(c.cmd("NOOP"), 250)
        assert_reply(c.cmd("QUIT"), 221)
    server.wait_event("disconnect", after=mark)
    assert server.events("login", after=mark) == []
    assert PASSWORD not in server.log_text()


def test_helo(server):
    with server.connect() as c:
        c.greeting()
        r = c.cmd("HELO client.test")
        assert_reply(r, 250)
        assert len(r.lines) == 1
        assert r.text.split()[0] == HOSTNAME, str(r)


@pytest.mark.parametrize("command,code", [("NOOP", 250), ("RSET", 250)])
def test_simple_commands(server, command, code):
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        r = c.cmd(command)
        assert_reply(r, code)
        assert r.enhanced is not None, f"no enhanced status code: {r}"


def test_help(server):
    with server.connect() as c:
        c.greeting()
        r = c.cmd("HELP")
        assert r.code in (211, 214), str(r)


def test_quit_closes(server):
    with server.connect() as c:
        c.greeting()
        r = c.cmd("QUIT")
        assert_reply(r, 221)
        assert r.enhanced == "2.0.0", str(r)
        assert c.read_until_eof(timeout=10) == b""


def test_unknown_command(server):
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        assert_reply(c.cmd("FOOBAR baz"), 500, "5.5.1")
        assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250)


@pytest.mark.parametrize("command", [
    "MAIL FROM:<alice@example.org>",
    "RCPT TO:<bob@example.org>",
    "DATA",
    "BDAT 0 LAST",  # a chunk of octets would follow (test_hostile.py)
    "VRFY alice",
])
def test_transaction_commands_need_auth(server, command):
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        assert_reply(c.cmd(command), 530, "5.7.0")
        # Nothing was started: the session still works and no data is expected.
        assert_reply(c.cmd("NOOP"), 250)


def test_transaction_commands_need_auth_over_tls(server, certs):
    with server.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        c.greeting()
        c.ehlo()
        assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 530, "5.7.0")
        assert_reply(c.cmd("DATA"), 530, "5.7.0")
        assert_reply(c.cmd("NOOP"), 250)


def test_pipelined_commands_answered_in_order(server):
    with server.connect() as c:
        c.greeting()
        c.send("EHLO client.test\r\nNOOP\r\nXYZZY\r\nRSET\r\nQUIT\r\n")
        replies = c.replies_until_eof(timeout=10)
        assert [r.code for r in replies] == [250, 250, 500, 250, 221], replies
        assert len(replies[0].lines) > 1  # the EHLO reply


def test_connect_and_disconnect_logged(server):
    mark = server.mark()
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        c.cmd("NOOP")
        c.cmd("QUIT")
        c.read_until_eof(timeout=10)
        sent, received, local_port = c.bytes_out, c.bytes_in, c.local_port
    host, port = server.addr("submission")
    conn = server.wait_event("connect", after=mark)
    assert conn["remote"] == f"127.0.0.1:{local_port}", conn
    assert conn["local"] == f"127.0.0.1:{port}", conn
    assert conn["listener"] == "submission", conn
    assert re.fullmatch(r"[0-9a-fA-F]+", conn["session"]), conn
    disc = server.wait_event("disconnect", after=mark, session=conn["session"])
    for key in ("reason", "duration", "bytes_in", "bytes_out", "commands"):
        assert key in disc, f"{key} missing: {disc.line}"
    assert float(disc["duration"]) >= 0
    assert int(disc["bytes_in"]) == sent, (disc.line, sent)
    assert int(disc["bytes_out"]) == received, (disc.line, received)
    assert int(disc["commands"]) in (2, 3), disc.line  # EHLO, NOOP (and QUIT)


@pytest.mark.parametrize("command", ["EHLO", "HELO"])
def test_ehlo_without_domain(server, command):
    with server.connect() as c:
        c.greeting()
        r = c.cmd(command)
        assert r.code == 501, str(r)
        assert_reply(c.cmd("NOOP"), 250)


def test_commands_case_insensitive(server):
    with server.connect() as c:
        c.greeting()
        assert_reply(c.cmd("ehlo client.test"), 250)
        assert_reply(c.cmd("nOoP"), 250)
        assert_reply(c.cmd("mail FROM:<a@example.org>"), 530, "5.7.0")


def test_workers_default_one_per_core(submitd):
    import os
    s = submitd({"server": {"workers": 0}})
    ready = s.events("ready")[0]
    assert ready["workers"] == str(len(os.sched_getaffinity(0))) or \
        ready["workers"] == str(os.cpu_count()), ready.line
    with s.connect() as c:
        assert_reply(c.greeting(), 220)


def test_one_listening_line_per_listener(submitd):
    s = submitd({"server": {"workers": 2}})
    names = [ev["listener"] for ev in s.events("listening")]
    assert sorted(names) == ["submission", "submissions"], names
    for ev in s.events("listening"):
        assert ev["tls"] == {"submission": "starttls", "submissions": "implicit"}[ev["listener"]]
        assert not ev["address"].endswith(":0"), ev.line


def test_log_level_warn_hides_sessions(submitd):
    """At level warn no info lines (listening, ready, connect) are written,
    so this test picks its port itself and polls it."""
    import socket
    from conftest import SMTPConn, wait_until
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = submitd({"server": {"log_level": "warn"},
                 "listener": [{"name": "submission", "address": f"127.0.0.1:{port}",
                               "tls": "starttls"}]}, start=False)
    s.start(wait_ready=False)

    def accepting():
        assert s.proc.poll() is None, s.log_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_until(accepting, what="the listener")
    with SMTPConn("127.0.0.1", port) as c:
        assert_reply(c.greeting(), 220)
        c.cmd("QUIT")
        c.read_until_eof(timeout=10)
    assert s.events("ready") == [] and s.events("connect") == [], s.log_text()
    assert s.events("disconnect") == [], s.log_text()
