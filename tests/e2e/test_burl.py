"""BURL (RFC 4468) end to end: messages stored over IMAP with imaplib, named
by URL, fetched by submitd from a private Cyrus IMAP (URLAUTH + URLFETCH as
the `submit` account) or a private Dovecot (trusted mode: the user's own
message, fetched through the master user), and relayed byte for byte.
Also the refusals: revoked URLs, other users' URLs, URLs naming servers
that are not configured (no connection made) and an IMAP server that is
down."""

import os
import signal
import socket

import pytest

from conftest import (USER, USER2, PASSWORD, PASSWORD2, assert_reply, open_session, relay_config,
                      split_received)
from imap_servers import SUBMIT_PASSWORD, SUBMIT_USER

# CRLF line ends, 8-bit text, a line with a lone dot and one starting with a
# dot: what a relay must get back unchanged.
MESSAGE = (b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: burl\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"Gr\xc3\xbc\xc3\x9fe aus dem Sent-Ordner.\r\n.\r\n..two dots\r\n.leading dot\r\nend\r\n")


def burl_server(imap, *, urlauth=False, trusted=False, separator="") -> dict:
    entry = {"host": imap.host, "port": imap.port, "modes": []}
    if urlauth:
        entry["modes"].append("urlauth")
        entry.update(urlauth_user=SUBMIT_USER, urlauth_password=SUBMIT_PASSWORD)
    if trusted:
        entry["modes"].append("trusted")
        entry.update(master_user=SUBMIT_USER, master_password=SUBMIT_PASSWORD,
                     master_separator=separator)
    return entry


def start(submitd, relay, *servers, **timeouts):
    cfg = relay_config(relay)
    cfg["burl"] = {"connect_timeout": 10.0, "command_timeout": 20.0, **timeouts,
                   "server": list(servers)}
    return submitd(cfg)


def begin(conn, sender="alice@example.org", rcpt="bob@example.net"):
    assert_reply(conn.cmd(f"MAIL FROM:<{sender}>"), 250)
    assert_reply(conn.cmd(f"RCPT TO:<{rcpt}>"), 250)


def relayed(relay) -> bytes:
    (m,) = relay.wait_messages(1)
    _, content = split_received(m.content)
    return content


# --------------------------------------------------------------------------
# Cyrus: URLAUTH


@pytest.fixture
def cyrus(cyrus_imap):
    return cyrus_imap()


def urlauth_url(cyrus, user=USER, password=PASSWORD, message=MESSAGE, access=None):
    uidvalidity, uid = cyrus.append(user, password, message)
    url = cyrus.url(user, uidvalidity, uid)
    kw = {} if access is None else {"access": access}
    return cyrus.genurlauth(user, password, url, **kw)


def test_ehlo_offers_burl_only_when_configured(submitd, recording_relay, cyrus, certs):
    plain = submitd(relay_config(recording_relay()))
    c = plain.connect()
    c.greeting()
    assert not any(line.startswith("BURL") for line in c.ehlo().lines)
    server = start(submitd, recording_relay(), burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    assert "BURL imap" in c.ehlo().lines


def test_urlauth_last_relays_the_message_byte_for_byte(submitd, recording_relay, cyrus, certs):
    url = urlauth_url(cyrus)
    relay = recording_relay()
    server = start(submitd, relay, burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 250)
    # The relay (aiosmtpd) has no CHUNKING: the message went as DATA, and
    # arrived unchanged after dot-unstuffing.
    assert relayed(relay) == MESSAGE
    server.wait_event("imap-connect", mode="urlauth")


def test_bdat_header_then_burl_body(submitd, recording_relay, cyrus, certs):
    url = urlauth_url(cyrus)
    relay = recording_relay()
    server = start(submitd, relay, burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    begin(c)
    extra = b"X-Sent-By: burl-test\r\nX-Second: yes\r\n"
    c.send(b"BDAT %d\r\n" % len(extra) + extra)
    assert_reply(c.read_reply(), 250)
    assert_reply(c.cmd(f"BURL {url} LAST"), 250)
    assert relayed(relay) == extra + MESSAGE


def test_two_parts_and_a_second_message_reuse_the_connection(submitd, recording_relay, cyrus,
                                                             certs):
    head = b"Subject: parts\r\n"
    body = b"\r\nbody\r\n"
    url1 = urlauth_url(cyrus, message=head)
    url2 = urlauth_url(cyrus, message=body)
    relay = recording_relay()
    server = start(submitd, relay, burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url1}"), 250, "2.0.0")
    assert_reply(c.cmd(f"BURL {url2} LAST"), 250)
    begin(c)
    assert_reply(c.cmd(f"BURL {url1} LAST"), 250)
    msgs = relay.wait_messages(2)
    assert [split_received(m.content)[1] for m in msgs] == [head + body, head]
    assert len(server.events("imap-connect")) == 1


def test_revoked_url_554_566(submitd, recording_relay, cyrus, certs):
    url = urlauth_url(cyrus)
    cyrus.resetkey(USER, PASSWORD, "INBOX")
    server = start(submitd, recording_relay(), burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 554, "5.6.6")
    # The message lacks its part: nothing more until RSET, then a new one works.
    assert_reply(c.cmd("RSET"), 250)


def test_tampered_url_554_566(submitd, recording_relay, cyrus, certs):
    url = urlauth_url(cyrus)
    last = url[-1]
    url = url[:-1] + ("0" if last != "0" else "1")
    server = start(submitd, recording_relay(), burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 554, "5.6.6")


def test_another_users_url_554(submitd, recording_relay, cyrus, certs):
    # bob's message, authorized for submission by bob: Cyrus would hand it to
    # the submit account, so submitd must refuse it for alice.
    url = urlauth_url(cyrus, USER2, PASSWORD2, access=f"submit+{USER2}")
    server = start(submitd, recording_relay(), burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 554, "5.7.0")
    assert not server.events("imap-connect")
    # bob himself may send it.
    c2 = open_session(server, certs, user=USER2, password=PASSWORD2)
    begin(c2, sender="bob@example.org")
    assert_reply(c2.cmd(f"BURL {url} LAST"), 250)


def test_unconfigured_host_554_5714_without_connecting(submitd, recording_relay, cyrus, certs):
    url = urlauth_url(cyrus)
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(8)
    trap.setblocking(False)
    other = url.replace(f"{cyrus.host}:{cyrus.port}", f"127.0.0.1:{trap.getsockname()[1]}")
    assert other != url
    server = start(submitd, recording_relay(), burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {other} LAST"), 554, "5.7.14")
    assert_reply(c.cmd(f"BURL {url.replace(cyrus.host, 'localhost')} LAST"), 554, "5.7.14")
    # The refusal came before any connection could be made: none is queued.
    with pytest.raises(BlockingIOError):
        trap.accept()
    trap.close()
    assert not server.events("imap-connect")


def test_imap_server_down_451_441(submitd, recording_relay, cyrus, certs):
    url = urlauth_url(cyrus)
    server = start(submitd, recording_relay(), burl_server(cyrus, urlauth=True))
    cyrus.stop()
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 451, "4.4.1")
    server.wait_event("imap-failed", stage="connect")


def test_imap_server_not_answering_451_441(submitd, recording_relay, cyrus, certs):
    """A server that takes the connection but never greets (Cyrus's
    processes stopped: the kernel accepts, nothing answers): 451 4.4.1 once
    burl.connect_timeout has passed, never a 5xx."""
    url = urlauth_url(cyrus)
    server = start(submitd, recording_relay(), burl_server(cyrus, urlauth=True),
                   connect_timeout=1.0)
    c = open_session(server, certs)
    begin(c)
    os.killpg(cyrus.proc.pid, signal.SIGSTOP)  # master and imapds
    try:
        assert_reply(c.cmd(f"BURL {url} LAST"), 451, "4.4.1")
    finally:
        os.killpg(cyrus.proc.pid, signal.SIGCONT)
    server.wait_event("imap-failed", stage="read", reason="timeout")
    # The session goes on: after RSET a new transaction works.
    assert_reply(c.cmd("RSET"), 250)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 250)


@pytest.mark.parametrize("verify", [True, False])
def test_starttls_to_the_imap_server(submitd, recording_relay, cyrus, certs, verify):
    url = urlauth_url(cyrus)
    relay = recording_relay()
    entry = burl_server(cyrus, urlauth=True)
    entry.update(tls="starttls", verify=verify)
    if verify:
        entry.update(ca_file=str(certs.bundle), server_name="mx.test")
    server = start(submitd, relay, entry)
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 250)
    assert relayed(relay) == MESSAGE
    server.wait_event("imap-connect", tls="starttls")


def test_starttls_certificate_not_trusted_451_441(submitd, recording_relay, cyrus, certs, tmp_path):
    url = urlauth_url(cyrus)
    entry = burl_server(cyrus, urlauth=True)
    # Trusts only the `other` certificate: the server's `a` fails verification.
    ca = tmp_path / "other.pem"
    ca.write_text(certs.other_cert.read_text())
    entry.update(tls="starttls", ca_file=str(ca), server_name="mx.test")
    server = start(submitd, recording_relay(), entry)
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 451, "4.4.1")
    server.wait_event("imap-failed", stage="tls")


def test_malformed_url_501(submitd, recording_relay, cyrus, certs):
    server = start(submitd, recording_relay(), burl_server(cyrus, urlauth=True))
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL imap://{cyrus.host}:{cyrus.port}/INBOX LAST"), 501, "5.5.4")
    assert_reply(c.cmd("BURL imap://a b LAST"), 501, "5.5.4")


def test_part_over_the_size_limit_552(submitd, recording_relay, cyrus, certs):
    big = MESSAGE + b"x" * 2000 + b"\r\n"
    url = urlauth_url(cyrus, message=big)
    cfg = relay_config(recording_relay())
    cfg["limits"] = {"max_message_size": 1024}
    cfg["burl"] = {"server": [burl_server(cyrus, urlauth=True)]}
    server = submitd(cfg)
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 552, "5.3.4")


# --------------------------------------------------------------------------
# Dovecot: trusted (master user)


@pytest.mark.parametrize("separator", ["*", ""])
def test_trusted_own_message_byte_for_byte(submitd, recording_relay, dovecot_imap, certs,
                                           separator):
    dovecot = dovecot_imap()
    uidvalidity, uid = dovecot.append(USER, PASSWORD, MESSAGE)
    url = dovecot.url(USER, uidvalidity, uid)
    relay = recording_relay()
    server = start(submitd, relay, burl_server(dovecot, trusted=True, separator=separator))
    c = open_session(server, certs)
    assert f"BURL imap://{dovecot.host}:{dovecot.port}" in c.ehlo().lines
    begin(c)
    assert_reply(c.cmd(f"BURL {url} LAST"), 250)
    assert relayed(relay) == MESSAGE
    server.wait_event("imap-connect", mode="trusted")


def test_trusted_refuses_other_users_and_stale_uidvalidity(submitd, recording_relay, dovecot_imap,
                                                          certs):
    dovecot = dovecot_imap()
    uidvalidity, uid = dovecot.append(USER, PASSWORD, MESSAGE)
    bob_v, bob_uid = dovecot.append(USER2, PASSWORD2, MESSAGE)
    server = start(submitd, recording_relay(), burl_server(dovecot, trusted=True, separator="*"))
    c = open_session(server, certs)
    begin(c)
    assert_reply(c.cmd(f"BURL {dovecot.url(USER2, bob_v, bob_uid)} LAST"), 554, "5.7.0")
    assert not server.events("imap-connect")
    assert_reply(c.cmd(f"BURL {dovecot.url(USER, uidvalidity + 1, uid)} LAST"), 554, "5.6.6")
    assert_reply(c.cmd("RSET"), 250)
    begin(c)
    assert_reply(c.cmd(f"BURL {dovecot.url(USER, uidvalidity, uid + 100)} LAST"), 554, "5.6.6")
