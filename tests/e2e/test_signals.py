"""SIGHUP (reload configuration, certificates, passdb without dropping
sessions) and SIGTERM (421 4.3.2 to idle sessions, exit 0)."""

import shutil
import signal
import socket
import time

import pytest

from conftest import (skip_or_fail, HOSTNAME, WAIT, Certs, assert_reply, passwd_text,
                      tls_client_context, to_toml)


def replace_cert(server, certs):
    tls = server.config["tls"]
    shutil.copy(certs.b_cert, tls["certificate"])
    shutil.copy(certs.b_key, tls["key"])


def test_sighup_new_certificate(server, certs):
    ctx = tls_client_context(certs.bundle)
    old_implicit = server.connect("submissions", tls=ctx)
    old_starttls = server.connect()
    try:
        assert_reply(old_implicit.greeting(), 220)
        old_implicit.ehlo()
        assert old_implicit.sock.getpeercert(binary_form=True) == Certs.der(certs.a_cert)
        old_starttls.greeting()
        old_starttls.ehlo()
        old_starttls.starttls(ctx)
        old_starttls.ehlo()

        replace_cert(server, certs)
        mark = server.mark()
        server.send_signal(signal.SIGHUP)
        server.wait_event("reload", after=mark)
        assert "reload ok" in server.log_text()[mark:], server.log_text()[mark:]
        assert server.proc.poll() is None

        # New connections see the new certificate, on both listener kinds.
        with server.connect("submissions", tls=ctx) as c:
            assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.b_cert)
            assert_reply(c.greeting(), 220)
            c.ehlo()
            assert_reply(c.auth_plain(), 235, "2.7.0")
        with server.connect() as c:
            c.greeting()
            c.starttls(ctx)
            assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.b_cert)
            assert_reply(c.cmd("NOOP"), 250)

        # The old sessions live on.
        assert_reply(old_implicit.cmd("NOOP"), 250)
        assert_reply(old_implicit.auth_plain(), 235, "2.7.0")
        assert_reply(old_starttls.cmd("NOOP"), 250)
        assert_reply(old_starttls.auth_plain(), 235, "2.7.0")
        old_implicit.send(b"QUIT\r\n")
        assert [r.code for r in old_implicit.replies_until_eof(timeout=10)] == [221]
    finally:
        old_implicit.close()
        old_starttls.close()


def test_sighup_reloads_settings_and_passdb(server, certs):
    with server.connect() as old:
        old.greeting()
        server.config["server"]["banner"] = "reloaded-banner"
        server.write_config()
        (server.dir / "passwd").write_text(passwd_text({"dave": "{PLAIN}daves-pass"}))
        mark = server.mark()
        server.send_signal(signal.SIGHUP)
        server.wait_event("reload", after=mark)
        assert "reload ok" in server.log_text()[mark:]
        with server.connect() as c:
            assert str(c.greeting()) == f"220 {HOSTNAME} ESMTP reloaded-banner"
        with server.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
            c.greeting()
            c.ehlo()
            assert_reply(c.auth_plain("dave", "daves-pass"), 235, "2.7.0")
        assert_reply(old.cmd("NOOP"), 250)


BROKEN = {
    "toml syntax": lambda s: s.config_path.write_text("[server\nhostname = \n"),
    "unknown key": lambda s: s.config_path.write_text(
        to_toml(s.config) + "\n[limits2]\nfoo = 1\n"),
    "missing certificate": lambda s: s.config_path.write_text(
        to_toml({**s.config, "tls": {"certificate": str(s.dir / "nope.pem"),
                                      "key": str(s.dir / "nope.key")}})),
    "bad value": lambda s: s.config_path.write_text(
        to_toml(s.config).replace("workers = 2", 'workers = "many"')),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN))
def test_sighup_broken_config_keeps_old(server, certs, breakage):
    ctx = tls_client_context(certs.bundle)
    with server.connect("submissions", tls=ctx) as old:
        old.greeting()
        old.ehlo()
        BROKEN[breakage](server)
        replace_cert(server, certs)  # must not be picked up either: the reload is refused
        mark = server.mark()
        server.send_signal(signal.SIGHUP)
        ev = server.wait_event("reload", after=mark)
        text = server.log_text()[mark:]
        assert "reload failed" in text, text
        assert "reload ok" not in text, text
        assert ev.get("reason"), ev.line
        assert server.proc.poll() is None, "server exited after a refused reload"
        # Still serving, with the old settings and the old certificate.
        with server.connect("submissions", tls=ctx) as c:
            assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.a_cert)
            assert str(c.greeting()) == f"220 {HOSTNAME} ESMTP submitd"
            c.ehlo()
            assert_reply(c.auth_plain(), 235, "2.7.0")
        with server.connect() as c:
            assert_reply(c.greeting(), 220)
        assert_reply(old.cmd("NOOP"), 250)
        assert_reply(old.auth_plain(), 235, "2.7.0")


def test_sigterm_idle_sessions(server, certs):
    ctx = tls_client_context(certs.bundle)
    a = server.connect()
    b = server.connect("submissions", tls=ctx)
    try:
        a.greeting()
        b.greeting()
        b.ehlo()
        assert_reply(b.auth_plain(), 235, "2.7.0")
        mark = server.mark()
        server.send_signal(signal.SIGTERM)
        for c in (a, b):
            replies = c.replies_until_eof(timeout=WAIT)
            assert [(r.code, r.enhanced) for r in replies] == [(421, "4.3.2")], replies
        rc = server.wait_exit(timeout=WAIT)
        assert rc == 0, f"exit status {rc}"
        server.wait_event("shutdown", after=mark)
    finally:
        a.close()
        b.close()


def test_sigterm_no_sessions(server):
    server.send_signal(signal.SIGTERM)
    assert server.wait_exit(timeout=WAIT) == 0
    server.wait_event("shutdown")


def test_sigterm_busy_session_bounded_by_grace(submitd):
    """A session in the middle of a command line delays the exit by at most
    shutdown_grace; the exit status is still 0 and new connections are no
    longer greeted."""
    s = submitd({"server": {"shutdown_grace": 2.0}})
    with s.connect() as busy:
        busy.greeting()
        busy.send(b"NOO")  # a command line begun, not finished
        mark = s.mark()
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        s.wait_event("shutdown", after=mark)
        host, port = s.addr("submission")
        # Refused, or closed at once (with at most a 421): never greeted, never left hanging.
        try:
            with socket.create_connection((host, port), timeout=5) as late:
                late.settimeout(5)
                data = late.recv(4096)
                assert data == b"" or data.startswith(b"421 "), f"after SIGTERM: {data!r}"
        except (ConnectionRefusedError, ConnectionResetError):
            pass
        rc = s.wait_exit(timeout=WAIT)
        elapsed = time.monotonic() - t0
    assert rc == 0
    assert elapsed < 2.0 + 8, f"exit took {elapsed:.1f}s with shutdown_grace 2"


def test_sighup_during_auth_exchange(server, certs):
    """A session in the middle of AUTH LOGIN finishes it after a reload."""
    from conftest import b64, PASSWORD, USER
    with server.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        c.greeting()
        c.ehlo()
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(b64(USER)).code == 334
        mark = server.mark()
        server.send_signal(signal.SIGHUP)
        server.wait_event("reload", after=mark)
        assert_reply(c.cmd(b64(PASSWORD)), 235, "2.7.0")


def test_sighup_repeated(server, certs):
    for _ in range(5):
        mark = server.mark()
        server.send_signal(signal.SIGHUP)
        server.wait_event("reload", after=mark)
    with server.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        assert_reply(c.greeting(), 220)
        c.ehlo()
        assert_reply(c.auth_plain(), 235, "2.7.0")
    assert server.log_text().count("reload ok") == 5


def test_sigterm_lets_a_running_command_finish(submitd, certs):
    """A session whose AUTH is being checked (a slow bcrypt hash) when SIGTERM
    arrives gets its 235, then 421 4.3.2 (or a plain close), and the exit is 0."""
    if not shutil.which("doveadm"):
        skip_or_fail("doveadm (dovecot-core) is not installed")
    from conftest import plain_ir, run
    slow = run(["doveadm", "pw", "-s", "BLF-CRYPT", "-r", "13", "-p", "slow-pw"],
               check=True).stdout.strip()
    s = submitd({"server": {"shutdown_grace": 10.0, "log_level": "debug"}},
                passwd=passwd_text({"slow": slow}))
    with s.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        c.greeting()
        c.ehlo()
        mark = s.mark()
        c.send(f"AUTH PLAIN {plain_ir('slow', 'slow-pw')}\r\n")
        s.wait_event("auth-check", after=mark)
        s.send_signal(signal.SIGTERM)
        replies = c.replies_until_eof(timeout=WAIT)
    assert replies, "closed without answering the AUTH"
    assert (replies[0].code, replies[0].enhanced) == (235, "2.7.0"), replies
    assert all((r.code, r.enhanced) == (421, "4.3.2") for r in replies[1:]), replies
    assert s.wait_exit(timeout=WAIT) == 0
