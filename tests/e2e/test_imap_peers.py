"""The private IMAP servers of imap_servers.py (the BURL tests' peers),
checked against themselves: Cyrus's URLAUTH/URLFETCH and Dovecot's master
user do what the BURL tests rely on, instances run side by side, a busy port
is retried and stop() closes the port."""

import imaplib
import socket

import pytest

import imap_servers
from imap_servers import (PASSWORD, PASSWORD2, SUBMIT_PASSWORD, SUBMIT_USER, USER, USER2)

# CRLF line ends, 8-bit octets in a header and in the body, a line with a
# leading dot, no final newline issues: URLFETCH must give back these octets.
MESSAGE = (b"From: Alice <alice@example.org>\r\n"
           b"To: Bob <bob@example.org>\r\n"
           b"Subject: caf\xc3\xa9 \xe9t\xe9\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n"
           b"\r\n"
           b"Gr\xc3\xbc\xc3\x9fe \xff\xfe\x80 raw octets\r\n"
           b".a line with a leading dot\r\n"
           b"\r\n"
           b"end\r\n")


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_cyrus_urlauth_urlfetch_resetkey(cyrus_imap):
    cyrus = cyrus_imap()
    v, uid = cyrus.append(USER, PASSWORD, MESSAGE)
    assert cyrus.fetch(USER, PASSWORD, uid) == MESSAGE

    url = cyrus.url(USER, v, uid)
    assert url == f"imap://alice@127.0.0.1:{cyrus.port}/INBOX;UIDVALIDITY={v}/;UID={uid}"
    authurl = cyrus.genurlauth(USER, PASSWORD, url)
    assert authurl.startswith(url + ";urlauth=submit+alice:internal:"), authurl

    assert cyrus.urlfetch(SUBMIT_USER, SUBMIT_PASSWORD, authurl) == MESSAGE
    assert cyrus.urlfetch(USER2, PASSWORD2, authurl) is None      # not a submit server
    tampered = authurl[:-1] + ("0" if authurl[-1] != "0" else "1")
    assert cyrus.urlfetch(SUBMIT_USER, SUBMIT_PASSWORD, tampered) is None

    cyrus.resetkey(USER, PASSWORD)
    assert cyrus.urlfetch(SUBMIT_USER, SUBMIT_PASSWORD, authurl) is None
    # A new key: a new URL works again.
    fresh = cyrus.genurlauth(USER, PASSWORD, url)
    assert fresh != authurl
    assert cyrus.urlfetch(SUBMIT_USER, SUBMIT_PASSWORD, fresh) == MESSAGE


def test_cyrus_offers_starttls(cyrus_imap):
    cyrus = cyrus_imap()
    imap = imaplib.IMAP4(cyrus.host, cyrus.port, timeout=imap_servers.WAIT)
    try:
        assert "STARTTLS" in imap.capabilities
        assert "LOGINDISABLED" not in imap.capabilities  # allowplaintext: yes
    finally:
        imap.logout()


def test_dovecot_master_user_fetch_and_two_instances(dovecot_imap):
    a = dovecot_imap()
    b = dovecot_imap(tls=False)
    assert a.port != b.port and a.dir != b.dir

    va, uida = a.append(USER, PASSWORD, MESSAGE)
    vb, uidb = b.append(USER, PASSWORD, b"Subject: other\r\n\r\nb\r\n")
    assert a.master_fetch(USER, uida, uidvalidity=va) == MESSAGE
    assert b.master_fetch(USER, uidb, uidvalidity=vb) == b"Subject: other\r\n\r\nb\r\n"
    assert a.url(USER, va, uida) == f"imap://alice@127.0.0.1:{a.port}/INBOX;UIDVALIDITY={va}/;UID={uida}"

    # The master user is not an account of its own; a wrong master password fails.
    with pytest.raises(imaplib.IMAP4.error):
        with a.session(SUBMIT_USER, SUBMIT_PASSWORD):
            pass
    with pytest.raises(imaplib.IMAP4.error):
        with a.session(f"{USER}*{SUBMIT_USER}", "wrong"):
            pass


def test_dovecot_plain_authzid_is_a_master_login(dovecot_imap):
    """SASL PLAIN with authzid=alice, authcid=submit logs in as alice."""
    d = dovecot_imap()
    _, uid = d.append(USER, PASSWORD, MESSAGE)
    imap = imaplib.IMAP4(d.host, d.port, timeout=imap_servers.WAIT)
    try:
        assert "STARTTLS" in imap.capabilities
        typ, _ = imap.authenticate(
            "PLAIN", lambda _: f"{USER}\0{SUBMIT_USER}\0{SUBMIT_PASSWORD}".encode())
        assert typ == "OK"
        assert d._fetch_body(imap, uid, "INBOX") == MESSAGE
    finally:
        imap.logout()
    imap = imaplib.IMAP4(d.host, d.port, timeout=imap_servers.WAIT)
    try:  # bob cannot do the same
        with pytest.raises(imaplib.IMAP4.error):
            imap.authenticate("PLAIN", lambda _: f"{USER}\0{USER2}\0{PASSWORD2}".encode())
    finally:
        imap.shutdown()


@pytest.mark.parametrize("kind", ["cyrus_imap", "dovecot_imap"])
def test_busy_port_is_retried_and_stop_closes_the_port(request, monkeypatch, kind):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(5)  # accepts (in the backlog) but never greets
    try:
        ports = [busy.getsockname()[1]]
        real = imap_servers.free_port
        monkeypatch.setattr(imap_servers, "free_port", lambda: ports.pop() if ports else real())
        server = request.getfixturevalue(kind)()
        assert not ports and server.port != busy.getsockname()[1]
    finally:
        busy.close()
    server.append(USER, PASSWORD, MESSAGE)
    with server.session(USER, PASSWORD):  # a session open while it stops
        server.stop()
    assert not server.running
    assert refused(server.host, server.port)
    server.stop()  # idempotent
