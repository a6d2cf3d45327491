"""The relay path: authenticated clients submit, submitd proxies to the
recording relay (relay_server.py); what the relay holds is compared byte for
byte with what the client sent, apart from submitd's Received line."""

import re
import smtplib
import subprocess

import pytest

from conftest import (HOSTNAME, dot_stuff, plain_ir, PASSWORD, USER, WAIT, assert_reply, need_tool, open_session,
                      relay_config, run, split_received, submit, tls_client_context)
from relay_server import has_bare_cr_or_lf

SMALL = (b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: small\r\n"
         b"Message-ID: <small@example.org>\r\n\r\nhello\r\n.a line with a leading dot\r\n"
         b"..and two\r\n.\r\nend\r\n")
EIGHTBIT = ("From: alice@example.org\r\nTo: bob@example.net\r\nSubject: 8bit\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, ½ €, 日本語\r\n").encode() + \
    bytes(range(0x80, 0x100)) + b"\r\n"


def big_message(size: int) -> bytes:
    head = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: big\r\n\r\n"
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.....\r\n"
    lines = []
    n = len(head)
    i = 0
    while n < size:
        # every 7th line starts with a dot: stuffing must survive both hops
        ln = (b"." if i % 7 == 0 else b"") + line
        lines.append(ln)
        n += len(ln)
        i += 1
    return head + b"".join(lines)


def assert_relayed(msg, content: bytes, sender="alice@example.org", rcpts=("bob@example.net",)):
    received, rest = split_received(msg.content)
    assert rest == content, "relayed content differs from what the client sent"
    assert msg.mail_from == sender
    assert msg.rcpts == list(rcpts)
    assert not has_bare_cr_or_lf(msg.content)
    return received


@pytest.mark.parametrize("chunking", [False, True], ids=["data", "bdat"])
@pytest.mark.parametrize("which", ["small", "8bit"])
def test_smtplib_byte_exact(submitd, recording_relay, certs, which, chunking):
    content = {"small": SMALL, "8bit": EIGHTBIT}[which]
    relay = recording_relay(chunking=chunking)
    server = submitd(relay_config(relay))
    mark = server.mark()
    host, port = server.addr("submission")
    with smtplib.SMTP(host, port, local_hostname="client.test", timeout=WAIT) as s:
        s.starttls(context=tls_client_context(certs.bundle))
        s.ehlo()
        s.login(USER, PASSWORD)
        opts = ["BODY=8BITMIME"] if which == "8bit" else []
        assert s.sendmail("alice@example.org", ["bob@example.net"], content, mail_options=opts) == {}
    (m,) = relay.wait_messages(1)
    assert_relayed(m, content)
    assert m.method == ("BDAT" if chunking else "DATA")
    if which == "8bit":
        assert m.mail_params.get("BODY") == "8BITMIME"
    ev = server.wait_event("message", after=mark)
    assert ev["from"] == "alice@example.org" and ev["rcpts"] == "1"
    assert ev["relay"] == relay.address
    assert ev["reply"].startswith("250 2.")
    assert int(ev["size"]) > 0 and ev["session"] and ev["tx"] and "duration" in ev


@pytest.mark.parametrize("chunking", [False, True], ids=["data", "bdat"])
def test_20mib_message(submitd, recording_relay, certs, chunking):
    content = big_message(20 * 1024 * 1024)
    relay = recording_relay(chunking=chunking)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    rep = submit(c, "alice@example.org", ["bob@example.net"], content)
    assert_reply(rep, 250)
    (m,) = relay.wait_messages(1, timeout=WAIT * 3)
    assert_relayed(m, content)
    assert_reply(c.cmd("QUIT"), 221)


def test_one_recipient_refused_by_relay(submitd, recording_relay, certs):
    relay = recording_relay(rcpt_replies={"nobody@example.net": "550 5.1.1 <nobody@example.net>: "
                                                                "Recipient address rejected"})
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    r = c.cmd("RCPT TO:<nobody@example.net>")
    assert_reply(r, 550, "5.1.1")
    assert "Recipient address rejected" in r.text
    assert_reply(c.cmd("RCPT TO:<carol@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(dot_stuff(SMALL))
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    assert_relayed(m, SMALL, rcpts=("bob@example.net", "carol@example.net"))
    assert [a for a, _ in m.refused] == ["nobody@example.net"]


def test_relay_reply_without_enhanced_code_gets_one(submitd, recording_relay, certs):
    relay = recording_relay(enhanced=False, rcpt_replies={"nobody@example.net": "550 no such user"})
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    r = c.cmd("RCPT TO:<nobody@example.net>")
    assert r.code == 550 and r.enhanced is not None and r.enhanced.startswith("5."), r


@pytest.mark.parametrize("relay_pipelining", [True, False])
def test_pipelined_mail_rcpt_rcpt_data_raw(submitd, recording_relay, certs, relay_pipelining):
    relay = recording_relay(pipelining=relay_pipelining)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    c.send(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n"
           b"RCPT TO:<carol@example.net>\r\nDATA\r\n")
    codes = [c.read_reply().code for _ in range(4)]
    assert codes == [250, 250, 250, 354]
    c.send(b"Subject: p\r\n\r\npipelined\r\n.\r\nNOOP\r\n")
    assert_reply(c.read_reply(), 250)
    assert_reply(c.read_reply(), 250)  # NOOP, in order
    (m,) = relay.wait_messages(1)
    assert_relayed(m, b"Subject: p\r\n\r\npipelined\r\n",
                   rcpts=("bob@example.net", "carol@example.net"))
    if not relay_pipelining:
        assert all(conn.pipelined_without_cap == 0 for conn in relay.connections), \
            "submitd pipelined to a relay that does not offer PIPELINING"


def test_swaks_pipeline(submitd, recording_relay, certs):
    swaks = need_tool("swaks")
    relay = recording_relay()
    server = submitd(relay_config(relay))
    host, port = server.addr("submission")
    r = run([swaks, "--server", host, "--port", port, "--tls", "--tls-ca-path", certs.bundle,
             "--auth", "PLAIN", "--auth-user", USER, "--auth-password", PASSWORD,
             "--from", "alice@example.org", "--to", "bob@example.net,carol@example.net",
             "--helo", "client.test", "--pipeline", "--header", "Subject: swaks",
             "--body", "swaks body"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"<\*\* 250|<~ +250 2\.\d\.\d", r.stdout)
    (m,) = relay.wait_messages(1)
    assert m.rcpts == ["bob@example.net", "carol@example.net"]
    assert b"swaks body" in m.content


def test_msmtp(submitd, recording_relay, certs, tmp_path):
    msmtp = need_tool("msmtp")
    relay = recording_relay()
    server = submitd(relay_config(relay))
    host, port = server.addr("submission")
    # Date and Message-ID given, so msmtp adds neither and the bytes compare.
    content = (b"Date: Sun, 29 Nov 2026 08:00:00 +0000\r\nMessage-ID: <m1@client.test>\r\n"
               b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: msmtp\r\n\r\n"
               b"via msmtp\r\n")
    r = subprocess.run(
        [msmtp, "--host", host, "--port", str(port), "--tls=on", "--tls-starttls=on",
         f"--tls-trust-file={certs.bundle}", "--auth=plain", f"--user={USER}",
         "--passwordeval", f"echo {PASSWORD}", "--domain=client.test",
         "--from", "alice@example.org", "bob@example.net"],
        input=content.replace(b"\r\n", b"\n"), capture_output=True, timeout=WAIT * 3)
    assert r.returncode == 0, r.stdout + r.stderr
    (m,) = relay.wait_messages(1)
    assert_relayed(m, content)


def test_curl(submitd, recording_relay, certs, tmp_path):
    curl = need_tool("curl")
    relay = recording_relay()
    server = submitd(relay_config(relay))
    host, port = server.addr("submissions")
    content = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: curl\r\n\r\nvia curl\r\n"
    f = tmp_path / "mail.txt"
    f.write_bytes(content)
    r = run([curl, "-sS", "--url", f"smtps://{HOSTNAME}:{port}",
             "--resolve", f"{HOSTNAME}:{port}:{host}", "--cacert", certs.bundle,
             "--user", f"{USER}:{PASSWORD}", "--mail-from", "alice@example.org",
             "--mail-rcpt", "bob@example.net", "--upload-file", f])
    assert r.returncode == 0, r.stdout + r.stderr
    (m,) = relay.wait_messages(1)
    assert_relayed(m, content)


def test_received_header(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs, ehlo="laptop.client.test")
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    (m,) = relay.wait_messages(1)
    received = assert_relayed(m, SMALL).decode()
    flat = re.sub(r"\r\n[ \t]+", " ", received).strip()
    assert flat.startswith("Received: from laptop.client.test ([127.0.0.1])"), flat
    assert f"by {HOSTNAME} (submitd)" in flat
    assert "with ESMTPSA id " in flat
    assert re.search(r"\(TLSv1\.[23][^)]*\)", flat), flat
    assert f"(authenticated sender: {USER})" in flat
    assert "for <bob@example.net>" in flat or "for bob@example.net" in flat
    assert re.search(r"; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", flat), flat
    assert all(len(line) <= 998 for line in received.split("\r\n"))


def test_implicit_tls_session_keeps_its_tls_after_auth(submitd, recording_relay, certs):
    """Port 465: the submission stage knows the session is TLS (EHLO still
    offers AUTH, STARTTLS is "already active", Received says ESMTPSA with
    the cipher), with plaintext AUTH not allowed."""
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = server.connect("submissions", tls=tls_client_context(certs.bundle))
    assert_reply(c.greeting(), 220)
    c.ehlo("laptop.client.test")
    assert_reply(c.auth_plain(), 235)
    ehlo = c.ehlo("laptop.client.test")
    assert "AUTH" in ehlo.capabilities(), ehlo.lines
    assert_reply(c.cmd("STARTTLS"), 502, "5.5.1")
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    (m,) = relay.wait_messages(1)
    flat = re.sub(r"\r\n[ \t]+", " ", assert_relayed(m, SMALL).decode()).strip()
    assert "with ESMTPSA id " in flat, flat
    assert re.search(r"\(TLSv1\.[23][^)]*\)", flat), flat


def test_received_privacy(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, submission={"received_privacy": True}))
    c = open_session(server, certs, ehlo="secret-laptop.client.test")
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    (m,) = relay.wait_messages(1)
    received = assert_relayed(m, SMALL).decode()
    assert "secret-laptop" not in received and "127.0.0.1" not in received, received
    assert f"by {HOSTNAME} (submitd)" in received
    assert "ESMTPSA" in received


def test_received_header_off(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, submission={"received_header": False}))
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    (m,) = relay.wait_messages(1)
    assert m.content == SMALL


def test_connection_reused_across_transactions(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    before = len(relay.connections)
    for i in range(3):
        assert_reply(submit(c, "alice@example.org", ["bob@example.net"], b"Subject: %d\r\n\r\nx\r\n" % i),
                     250)
    ms = relay.wait_messages(3)
    assert len({m.conn for m in ms}) == 1, "one relay connection for the session's transactions"
    assert len(relay.connections) - before <= 1


def test_ehlo_same_before_and_after_auth(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = server.connect()
    assert_reply(c.greeting(), 220)
    c.ehlo()
    c.starttls(tls_client_context(certs.bundle))
    before = c.ehlo().capabilities()
    assert_reply(c.auth_plain(), 235)
    after = c.ehlo().capabilities()
    before.pop("AUTH", None)
    after.pop("AUTH", None)
    assert before == after


def test_bare_lf_normalized(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(b"Subject: lf\r\n\r\none\ntwo\r\n.\r\n")
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    _, rest = split_received(m.content)
    assert rest == b"Subject: lf\r\n\r\none\r\ntwo\r\n"


def test_bare_lf_rejected_by_option(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, submission={"bare_lf": "reject"}))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(b"Subject: lf\r\n\r\none\ntwo\r\n.\r\n")
    r = c.read_reply()
    assert r.code == 554 and r.enhanced is not None and r.enhanced.startswith("5.6."), r
    assert_reply(c.cmd("NOOP"), 250)
    assert relay.messages == []


def test_bare_cr_rejected(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(b"Subject: cr\r\n\r\none\rtwo\r\n.\r\n")
    assert_reply(c.read_reply(), 554, "5.6.0")
    # the session goes on; a good message afterwards is relayed alone
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    (m,) = relay.wait_messages(1)
    assert_relayed(m, SMALL)
    assert len(relay.messages) == 1


def test_bare_cr_normalized_by_option(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, submission={"bare_cr": "normalize"}))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(b"Subject: cr\r\n\r\none\rtwo\r\n.\r\n")
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    _, rest = split_received(m.content)
    assert rest == b"Subject: cr\r\n\r\none\r\ntwo\r\n"


def test_auth_param_to_relay_is_login(submitd, recording_relay, certs):
    relay = recording_relay(auth={"submitd": "relaypw"})
    server = submitd(relay_config({"address": relay.address, "auth_user": "submitd",
                                   "auth_password": "relaypw"}))
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL,
                        mail_params="AUTH=<mallory@example.org>"), 250)
    (m,) = relay.wait_messages(1)
    assert m.mail_params.get("AUTH") == USER
    conn = [x for x in relay.connections if x.id == m.conn][0]
    assert conn.auth and conn.auth[-1][1:] == ("submitd", "relaypw", True)


def test_auth_as_client_master_user(submitd, recording_relay, certs):
    relay = recording_relay(auth={"master": "masterpw"})
    server = submitd(relay_config({"address": relay.address, "auth_user": "master",
                                   "auth_password": "masterpw", "auth_as_client": True}))
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    (m,) = relay.wait_messages(1)
    conn = [x for x in relay.connections if x.id == m.conn][0]
    assert conn.auth[-1] == (USER, "master", "masterpw", True)


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls_to_relay(submitd, recording_relay, certs, mode):
    relay = recording_relay(tls=mode)
    server = submitd(relay_config({"address": relay.address, "tls": mode, "verify": True,
                                   "ca_file": str(certs.bundle), "server_name": "mx.test"}))
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    (m,) = relay.wait_messages(1)
    assert m.tls and m.tls.startswith("TLSv1.")


def test_tls_to_relay_bad_certificate(submitd, recording_relay, certs):
    relay = recording_relay(tls="starttls")
    server = submitd(relay_config({"address": relay.address, "tls": "starttls", "verify": True,
                                   "ca_file": str(certs.bundle), "server_name": "wrong.test"}))
    c = open_session(server, certs)
    # MAIL goes to the relay with the first RCPT: the unverifiable relay
    # fails that, and the session goes on.
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 451, "4.4.1")
    assert_reply(c.cmd("NOOP"), 250)
    assert relay.messages == []
    server.wait_event("relay-failed", stage="tls")


def test_xclient_to_recording_relay(submitd, recording_relay, certs):
    relay = recording_relay(xclient=True)
    server = submitd(relay_config({"address": relay.address, "xclient": True}))
    c = open_session(server, certs, ehlo="laptop.client.test", source="127.0.0.2")
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    (m,) = relay.wait_messages(1)
    conn = [x for x in relay.connections if x.id == m.conn][0]
    assert conn.xclient, "no XCLIENT sent"
    x = conn.xclient[-1]
    assert x["ADDR"] == "127.0.0.2" and x["PORT"] == str(c.local_port)
    assert x["HELO"] == "laptop.client.test" and x["LOGIN"] == USER
    assert x["PROTO"] in ("ESMTP", "ESMTPSA")
    assert conn.ehlo[-1] != "laptop.client.test" or len(conn.ehlo) >= 2  # EHLO again after XCLIENT


def test_xclient_refused_is_451(submitd, recording_relay, certs):
    relay = recording_relay(xclient=True, xclient_reply="550 5.7.0 Error: insufficient authorization")
    server = submitd(relay_config({"address": relay.address, "xclient": True}))
    c = open_session(server, certs)
    # XCLIENT is part of opening the relay connection, which the first RCPT
    # (taking MAIL along) needs.
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 451, "4.7.0")
    assert relay.messages == []
    server.wait_event("relay-failed")


def test_idle_relay_connection_is_closed_then_reopened(submitd, recording_relay, certs):
    """The session's relay connection is closed once idle for
    relay_client.idle_timeout, and a later transaction opens a fresh one."""
    relay = recording_relay()
    server = submitd(relay_config(relay, relay_client={"idle_timeout": 0.3}))
    mark = server.mark()
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], SMALL), 250)
    server.wait_event("relay-close", after=mark, reason="idle")
    assert_reply(submit(c, "alice@example.org", ["carol@example.net"], SMALL), 250)
    assert len(relay.wait_messages(2)) == 2
    # One connection for the probe at start-up may come before; the session used two.
    session_connects = [e for e in server.events("relay-connect") if e["session"] != "probe"]
    assert len(session_connects) == 2


def test_commands_pipelined_after_auth_run_in_order(submitd, recording_relay, certs):
    """What the client pipelined behind AUTH reaches the submission stage with
    the handoff and runs in order: 235, then MAIL, RCPT, DATA."""
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = server.connect("submission")
    assert_reply(c.greeting(), 220)
    c.ehlo("client.test")
    c.starttls(tls_client_context(certs.bundle))
    c.ehlo("client.test")
    c.send(f"AUTH PLAIN {plain_ir()}\r\nMAIL FROM:<alice@example.org>\r\n"
           "RCPT TO:<bob@example.net>\r\nDATA\r\n".encode())
    assert [c.read_reply().code for _ in range(4)] == [235, 250, 250, 354]
    c.send(dot_stuff(SMALL))
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    assert_relayed(m, SMALL)
