"""STARTTLS (RFC 3207), implicit TLS (RFC 8314), protocol versions, SNI,
resumption, and the STARTTLS command-injection class (CVE-2011-0411)."""

import socket
import ssl
import time

import pytest

from conftest import (skip_or_fail, HOSTNAME, USER, WAIT, Certs, SMTPConn, assert_reply, need_tool,
                      plain_ir, run, tls_client_context)


def test_starttls_handshake_logged(server, certs):
    mark = server.mark()
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        r = c.starttls(tls_client_context(certs.bundle))
        assert r.enhanced == "2.0.0", str(r)
        assert c.sock.version() == "TLSv1.3"
        assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.a_cert)
        c.ehlo()
        cipher = c.sock.cipher()[0]
    ev = server.wait_event("tls", after=mark)
    assert ev["version"] == "TLSv1.3", ev.line
    assert ev["cipher"] == cipher, ev.line
    conn = server.events("connect", after=mark)[0]
    assert ev["session"] == conn["session"]


def test_starttls_without_ehlo(server, certs):
    """STARTTLS right after the greeting is allowed (no EHLO needed)."""
    with server.connect() as c:
        c.greeting()
        r = c.cmd("STARTTLS")
        assert_reply(r, 220)
        c.sock = tls_client_context(certs.bundle).wrap_socket(c.sock, server_hostname=HOSTNAME)
        assert "STARTTLS" not in c.ehlo().capabilities()


def test_starttls_twice(server, certs):
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        c.starttls(tls_client_context(certs.bundle))
        c.ehlo()
        assert_reply(c.cmd("STARTTLS"), 502, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250)


def test_starttls_on_implicit_listener(server, certs):
    with server.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        c.greeting()
        c.ehlo()
        assert_reply(c.cmd("STARTTLS"), 502, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250)


def test_starttls_forgets_ehlo(server, certs):
    """After the handshake the EHLO state is gone: AUTH needs a new EHLO."""
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        c.starttls(tls_client_context(certs.bundle))
        r = c.cmd(f"AUTH PLAIN {plain_ir()}")
        assert_reply(r, 503, "5.5.1")
        c.ehlo()
        assert_reply(c.cmd(f"AUTH PLAIN {plain_ir()}"), 235, "2.7.0")


def test_starttls_injection_noop(server, certs):
    """STARTTLS\\r\\nNOOP\\r\\n in one write: one 220, the NOOP is discarded and
    never answered, neither before nor after the handshake."""
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        c.send(b"STARTTLS\r\nNOOP\r\n")
        r = c.read_reply()
        assert_reply(r, 220)
        # Nothing but the 220 may precede the handshake (a 250 here would make
        # the handshake fail, which fails the test too).
        assert c.buf == b"", f"data after 220: {c.buf!r}"
        c.sock = tls_client_context(certs.bundle).wrap_socket(c.sock, server_hostname=HOSTNAME)
        # The first reply over TLS must be the EHLO's, not the NOOP's.
        r = c.cmd("EHLO client.test")
        assert_reply(r, 250)
        assert len(r.lines) > 1 and r.lines[0].startswith(HOSTNAME), f"not the EHLO reply: {r}"
        # One NOOP, one reply; QUIT as the sentinel proves nothing else was queued.
        assert_reply(c.cmd("NOOP"), 250)
        c.send(b"QUIT\r\n")
        replies = c.replies_until_eof(timeout=10)
        assert [x.code for x in replies] == [221], replies


def test_starttls_injection_auth(server, certs):
    """An AUTH smuggled after STARTTLS is not executed: no 235 and no login."""
    mark = server.mark()
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        c.send(f"STARTTLS\r\nAUTH PLAIN {plain_ir()}\r\n".encode())
        assert_reply(c.read_reply(), 220)
        assert c.buf == b""
        c.sock = tls_client_context(certs.bundle).wrap_socket(c.sock, server_hostname=HOSTNAME)
        r = c.cmd("EHLO client.test")
        assert_reply(r, 250)
        assert r.lines[0].startswith(HOSTNAME), str(r)
        # Not authenticated: MAIL is still refused.
        assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 530, "5.7.0")
        c.send(b"QUIT\r\n")
        assert [x.code for x in c.replies_until_eof(timeout=10)] == [221]
    server.wait_event("disconnect", after=mark)
    assert server.events("login", after=mark) == []


def test_starttls_injection_split_records(server, certs):
    """Pipelined EHLO+STARTTLS+NOOP: EHLO and STARTTLS are answered, the
    NOOP after STARTTLS is not."""
    with server.connect() as c:
        c.greeting()
        c.send(b"EHLO client.test\r\nSTARTTLS\r\nNOOP\r\n")
        r = c.read_reply()
        assert_reply(r, 250)
        assert_reply(c.read_reply(), 220)
        assert c.buf == b"", f"data after 220: {c.buf!r}"
        c.sock = tls_client_context(certs.bundle).wrap_socket(c.sock, server_hostname=HOSTNAME)
        c.send(b"QUIT\r\n")
        assert [x.code for x in c.replies_until_eof(timeout=10)] == [221]


def test_implicit_tls(server, certs):
    mark = server.mark()
    ctx = tls_client_context(certs.bundle)
    with server.connect("submissions", tls=ctx) as c:
        r = c.greeting()
        assert str(r) == f"220 {HOSTNAME} ESMTP submitd"
        assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.a_cert)
        c.ehlo()
        assert_reply(c.auth_plain(), 235, "2.7.0")
    conn = server.wait_event("connect", after=mark)
    assert conn["listener"] == "submissions"
    ev = server.wait_event("tls", after=mark, session=conn["session"])
    assert ev["version"] == "TLSv1.3"
    server.wait_event("login", after=mark, session=conn["session"], user=USER, mechanism="PLAIN")


def test_tls12_works(server, certs):
    mark = server.mark()
    ctx = tls_client_context(certs.bundle, maximum=ssl.TLSVersion.TLSv1_2)
    with server.connect("submissions", tls=ctx) as c:
        assert c.sock.version() == "TLSv1.2"
        cipher = c.sock.cipher()[0]
        assert "ECDHE" in cipher and ("GCM" in cipher or "CHACHA20" in cipher), cipher
        assert_reply(c.greeting(), 220)
    ev = server.wait_event("tls", after=mark)
    assert ev["version"] == "TLSv1.2" and ev["cipher"] == cipher, ev.line


def test_min_version_tls13(submitd, certs):
    s = submitd({"tls": {"min_version": "TLSv1.3"}})
    mark = s.mark()
    ctx = tls_client_context(certs.bundle, maximum=ssl.TLSVersion.TLSv1_2)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        with s.connect("submissions", tls=ctx) as c:
            c.greeting()
    s.wait_event("tls-failed", after=mark)


def test_tls11_refused(server, certs):
    """TLS 1.0/1.1 are refused by the server (checked with openssl s_client,
    which can still offer TLS 1.1 at security level 0)."""
    need_tool("openssl")
    host, port = server.addr("submissions")
    mark = server.mark()
    r = run(["openssl", "s_client", "-connect", f"{host}:{port}", "-tls1_1",
             "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", certs.bundle],
            input="", timeout=WAIT)
    out = r.stdout + r.stderr
    if "no protocols available" in out or "unknown option" in out:
        skip_or_fail("this openssl client cannot offer TLS 1.1")
    assert "220 " not in r.stdout, out
    assert r.returncode != 0, out
    assert "alert protocol version" in out, out
    server.wait_event("tls-failed", after=mark)


def test_failed_handshake_logged_implicit(server):
    mark = server.mark()
    host, port = server.addr("submissions")
    with socket.create_connection((host, port), timeout=WAIT) as s:
        s.sendall(b"EHLO not-tls\r\n" + b"x" * 300 + b"\r\n")
        s.settimeout(WAIT)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert b"220 " not in data, data
    ev = server.wait_event("tls-failed", after=mark)
    assert ev.get("reason"), ev.line
    conn = server.events("connect", after=mark)[0]
    assert ev["session"] == conn["session"]


def test_failed_handshake_logged_starttls(server):
    mark = server.mark()
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        assert_reply(c.cmd("STARTTLS"), 220)
        c.send(b"\x16\x03\x01\x00\x05garbage-that-is-not-a-client-hello\r\n" * 4)
        c.read_until_eof(timeout=WAIT)
    ev = server.wait_event("tls-failed", after=mark)
    assert ev.get("reason"), ev.line


def test_wrong_ca_client_aborts_and_server_logs(server, tmp_path):
    """A client that rejects the certificate aborts; the server logs the
    failed handshake and keeps serving."""
    from conftest import make_cert
    other_cert, _ = make_cert(tmp_path, "stranger", "stranger.test", ["DNS:stranger.test"])
    mark = server.mark()
    with pytest.raises(ssl.SSLCertVerificationError):
        server.connect("submissions", tls=tls_client_context(other_cert))
    server.wait_event("tls-failed", after=mark)
    with server.connect() as c:
        assert_reply(c.greeting(), 220)


def test_sni_selects_certificate(submitd, certs):
    s = submitd({"tls": {"sni": [{"name": "other.test", "certificate": str(certs.other_cert),
                                  "key": str(certs.other_key)}]}})
    ctx = tls_client_context(certs.bundle)
    with s.connect("submissions", tls=ctx, server_hostname="other.test") as c:
        assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.other_cert)
        assert_reply(c.greeting(), 220)
    with s.connect("submissions", tls=ctx, server_hostname=HOSTNAME) as c:
        assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.a_cert)
        assert_reply(c.greeting(), 220)
    # STARTTLS too.
    with s.connect() as c:
        c.greeting()
        c.starttls(ctx, server_hostname="other.test")
        assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.other_cert)
        assert_reply(c.cmd("NOOP"), 250)
    # No SNI: the default certificate.
    nosni = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    nosni.check_hostname = False
    nosni.verify_mode = ssl.CERT_NONE
    with s.connect("submissions", tls=nosni, server_hostname=None) as c:
        assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.a_cert)


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_session_resumption(server, certs, maximum):
    """Sessions resume, whichever worker thread takes the next connection."""
    ctx = tls_client_context(certs.bundle, maximum=maximum)
    with server.connect("submissions", tls=ctx) as c:
        c.greeting()
        c.ehlo()  # reading after the handshake collects TLS 1.3 tickets
        c.send(b"QUIT\r\n")
        c.replies_until_eof(timeout=10)
        session = c.sock.session
    assert session is not None
    reused = []
    for _ in range(4):
        host, port = server.addr("submissions")
        raw = socket.create_connection((host, port), timeout=WAIT)
        tls = ctx.wrap_socket(raw, server_hostname=HOSTNAME, session=session)
        try:
            reused.append(tls.session_reused)
            c = SMTPConn.__new__(SMTPConn)
            c.sock, c.buf, c.bytes_in, c.bytes_out, c.timeout = tls, b"", 0, 0, WAIT
            c.greeting()
            c.ehlo()
            c.send(b"QUIT\r\n")
            c.replies_until_eof(timeout=10)
            if tls.session is not None:
                session = tls.session
        finally:
            tls.close()
    assert all(reused), f"session reuse per connection: {reused}"


def test_starttls_with_argument(server):
    with server.connect() as c:
        c.greeting()
        c.ehlo()
        r = c.cmd("STARTTLS now")
        assert r.code == 501, str(r)
        assert_reply(c.cmd("NOOP"), 250)


@pytest.mark.parametrize("listener", ["submissions", "submission"])
def test_tls_handshake_timeout(submitd, listener):
    s = submitd({"limits": {"tls_handshake_timeout": 1.0, "idle_timeout": 30.0}})
    mark = s.mark()
    with s.connect(listener) as c:
        if listener == "submission":
            c.greeting()
            assert_reply(c.cmd("STARTTLS"), 220)
        t0 = time.monotonic()
        c.read_until_eof(timeout=WAIT)  # we never send a ClientHello
        elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 10, elapsed
    s.wait_event("tls-failed", after=mark)


def test_sni_unknown_name_gets_default(submitd, certs):
    s = submitd({"tls": {"sni": [{"name": "other.test", "certificate": str(certs.other_cert),
                                  "key": str(certs.other_key)}]}})
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with s.connect("submissions", tls=ctx, server_hostname="unknown.test") as c:
        assert c.sock.getpeercert(binary_form=True) == Certs.der(certs.a_cert)
        assert_reply(c.greeting(), 220)


def test_tls12_cipher_list_configurable(submitd, certs):
    s = submitd({"tls": {"ciphers": "ECDHE+CHACHA20"}})
    mark = s.mark()
    ctx = tls_client_context(certs.bundle, maximum=ssl.TLSVersion.TLSv1_2)
    with s.connect("submissions", tls=ctx) as c:
        cipher = c.sock.cipher()[0]
        assert "CHACHA20" in cipher, cipher
        assert_reply(c.greeting(), 220)
    ev = s.wait_event("tls", after=mark)
    assert ev["cipher"] == cipher


def test_tls12_rejects_non_aead_ciphers(server, certs):
    ctx = tls_client_context(certs.bundle, maximum=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("AES128-SHA:AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        with server.connect("submissions", tls=ctx) as c:
            c.greeting()
