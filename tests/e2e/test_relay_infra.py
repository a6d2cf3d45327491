"""The relay-side test peers on their own, driven by smtplib and raw sockets
(no submitd): the recording relay's capabilities, faults and records,
smtp-sink, and the private Postfix smtpd with XCLIENT. If these fail, the
relay-path tests cannot be trusted."""

import smtplib
import socket
import ssl

import pytest

from conftest import WAIT, SMTPConn, assert_reply
from relay_server import has_bare_cr_or_lf

MSG = b"From: a@example.org\r\nSubject: t\r\n\r\n.leading dot\r\n..two\r\nbody \xc3\xa9\r\n"


def client(relay, timeout=WAIT) -> smtplib.SMTP:
    s = smtplib.SMTP("127.0.0.1", relay.port, local_hostname="probe.test", timeout=timeout)
    s.ehlo()
    return s


def test_capabilities_chosen(recording_relay):
    r = recording_relay(pipelining=False, eightbitmime=False, dsn=False, smtputf8=False,
                        chunking=True, size=12345)
    with client(r) as s:
        assert not s.has_extn("pipelining") and not s.has_extn("8bitmime")
        assert not s.has_extn("dsn") and not s.has_extn("smtputf8")
        assert s.has_extn("chunking") and s.esmtp_features["size"] == "12345"
        assert s.mail("a@example.org", ["BODY=8BITMIME"])[0] == 555
        assert s.mail("a@example.org", ["SIZE=99999"])[0] == 552
        assert s.mail("a@example.org", ["SIZE=10"])[0] == 250
        assert s.rcpt("b@example.org", ["NOTIFY=NEVER"])[0] == 555
    r2 = recording_relay()
    with client(r2) as s:
        for ext in ("pipelining", "8bitmime", "dsn", "smtputf8", "enhancedstatuscodes"):
            assert s.has_extn(ext), ext
        assert not s.has_extn("chunking") and not s.has_extn("size")


def test_byte_exact_record_and_refused_rcpt(recording_relay):
    r = recording_relay(rcpt_replies={"bad@example.org": "550 5.1.1 no such user"})
    with client(r) as s:
        refused = s.sendmail("a@example.org", ["b@example.org", "bad@example.org"], MSG,
                             mail_options=["BODY=8BITMIME"], rcpt_options=["NOTIFY=NEVER"])
        assert refused == {"bad@example.org": (550, b"5.1.1 no such user")}
    (m,) = r.wait_messages(1)
    assert m.content == MSG and m.method == "DATA"
    assert m.rcpts == ["b@example.org"] and m.mail_params == {"BODY": "8BITMIME"}
    assert m.refused == [("bad@example.org", "550 5.1.1 no such user")]
    assert not has_bare_cr_or_lf(m.content)


def test_bdat(recording_relay):
    r = recording_relay(chunking=True)
    with SMTPConn("127.0.0.1", r.port, server_hostname=None) as c:
        assert_reply(c.greeting(), 220)
        c.ehlo("probe.test")
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
               b"BDAT 6\r\nhello\nBDAT 4 LAST\r\n.\r\n.")
        assert [c.read_reply().code for _ in range(4)] == [250, 250, 250, 250]
    (m,) = r.wait_messages(1)
    assert m.content == b"hello\n.\r\n." and m.chunks == [6, 4] and m.method == "BDAT"


@pytest.mark.parametrize("where,kw,code", [
    ("mail", {"mail_reply": "451 4.3.0 mail later"}, 451),
    ("rcpt", {"rcpt_fail_index": {0: "550 5.1.1 nobody"}}, 550),
    ("data", {"data_reply": "554 5.3.0 no data"}, 554),
    ("eod", {"eod_reply": "452 4.3.1 full"}, 452),
])
def test_reply_faults_once(recording_relay, where, kw, code):
    r = recording_relay(fault_times=1, **kw)
    with SMTPConn("127.0.0.1", r.port, server_hostname=None) as c:
        assert_reply(c.greeting(), 220)
        c.ehlo("probe.test")
        for attempt in (1, 2):
            replies = []
            for cmd, ok in ((b"MAIL FROM:<a@example.org>", 250), (b"RCPT TO:<b@example.org>", 250),
                            (b"DATA", 354), (b"hi\r\n.", 250)):
                rep = c.cmd(cmd)
                replies.append(rep.code)
                if rep.code != ok:
                    break
            if attempt == 1:
                assert replies[-1] == code and len(replies) == STAGE_INDEX[where] - 1, replies
                assert_reply(c.cmd("RSET"), 250)
            else:
                assert replies == [250, 250, 354, 250]
    (m,) = r.wait_messages(1)
    assert m.content == b"hi\r\n" and len(r.messages) == 1


def test_drop_mid_data(recording_relay):
    r = recording_relay(drop_after=100)
    with client(r) as s:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            s.sendmail("a@example.org", ["b@example.org"], b"x" * 50 + b"\r\n" + b"y" * 5000)
    (t,) = r.wait_transactions(1, state="dropped")
    assert len(t.wire) == 100 and r.messages == []


STAGE_INDEX = {"greeting": 0, "ehlo": 1, "mail": 2, "rcpt": 3, "data": 4, "eod": 5}


@pytest.mark.parametrize("stage", ["greeting", "ehlo", "mail", "rcpt", "data", "eod"])
def test_stall_and_release(recording_relay, stage):
    r = recording_relay(stall_at=stage)
    c = SMTPConn("127.0.0.1", r.port, server_hostname=None)
    steps = [(None, 220), (b"EHLO probe.test", 250), (b"MAIL FROM:<a@example.org>", 250),
             (b"RCPT TO:<b@example.org>", 250), (b"DATA", 354), (b"hi\r\n.", 250)]
    for i, (cmd, code) in enumerate(steps):
        if cmd is not None:
            c.send(cmd + b"\r\n")
        if i == STAGE_INDEX[stage]:
            r.wait_stall(1)
            assert c.nothing_pending(0.2) == b""  # stalled: no reply yet
            r.release()
        assert_reply(c.read_reply(), code)
    c.close()
    assert len(r.wait_messages(1)) == 1


def test_lenient_relay_sees_smuggled_message(recording_relay):
    """The lenient mode makes smuggling visible: a bare-LF terminator ends the
    content and what follows becomes commands."""
    r = recording_relay(lenient_eod=True)
    with SMTPConn("127.0.0.1", r.port, server_hostname=None) as c:
        assert_reply(c.greeting(), 220)
        c.ehlo("probe.test")
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        assert [c.read_reply().code for _ in range(3)] == [250, 250, 354]
        c.send(b"one\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<v@example.org>\r\nDATA\r\n"
               b"evil\r\n.\r\n")
        assert [c.read_reply().code for _ in range(5)] == [250, 250, 250, 354, 250]
    ms = r.wait_messages(2)
    assert [m.mail_from for m in ms] == ["a@example.org", "evil@example.org"]


def test_pipelining_violation_recorded(recording_relay):
    r = recording_relay(pipelining=False)
    with SMTPConn("127.0.0.1", r.port, server_hostname=None) as c:
        assert_reply(c.greeting(), 220)
        c.ehlo("probe.test")
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nNOOP\r\n")
        assert [c.read_reply().code for _ in range(3)] == [250, 250, 250]
    assert r.connections[0].pipelined_without_cap >= 1


def test_xclient_auth_and_starttls(recording_relay, certs):
    r = recording_relay(xclient=True, auth={"master": "secret"}, tls="starttls")
    with client(r) as s:
        assert s.has_extn("xclient") and s.has_extn("starttls")
        ctx = ssl.create_default_context(cafile=str(certs.bundle))
        s.starttls(context=ctx)
        s.ehlo()
        code, _ = s.docmd("XCLIENT ADDR=192.0.2.7 PORT=4242 HELO=c.test PROTO=ESMTP LOGIN=alice")
        assert code == 220
        s.ehlo()
        s.user, s.password = "master", "secret"
        import base64
        code, _ = s.docmd("AUTH PLAIN " + base64.b64encode(b"alice\0master\0secret").decode())
        assert code == 235
        assert s.sendmail("a@example.org", ["b@example.org"], MSG) == {}
    (m,) = r.wait_messages(1)
    conn = r.connections[0]
    assert conn.xclient == [{"ADDR": "192.0.2.7", "PORT": "4242", "HELO": "c.test",
                             "PROTO": "ESMTP", "LOGIN": "alice"}]
    assert conn.auth == [("alice", "master", "secret", True)]
    assert m.tls and m.tls.startswith("TLS")


def test_closed_port_refuses(recording_relay):
    from relay_server import closed_port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port()), WAIT).close()


def test_smtp_sink(smtp_sink):
    sink = smtp_sink()
    with smtplib.SMTP("127.0.0.1", sink.port, local_hostname="probe.test", timeout=WAIT) as s:
        assert s.sendmail("a@example.org", ["b@example.org"], MSG) == {}
    (dump,) = sink.wait_messages(1)
    assert b"X-Mail-Args: <a@example.org>\n" in dump
    assert b"X-Rcpt-Args: <b@example.org>\n" in dump
    assert dump.endswith(MSG.replace(b"\r\n", b"\n") + b"\n")


def test_postfix_xclient(postfix_relay, certs):
    pf = postfix_relay()
    with smtplib.SMTP("127.0.0.1", pf.port, local_hostname="submitd.test", timeout=WAIT) as s:
        s.starttls(context=ssl.create_default_context(cafile=str(certs.bundle)))
        s.ehlo()
        assert "LOGIN" in s.esmtp_features["xclient"].upper()
        code, msg = s.docmd("XCLIENT ADDR=127.0.0.9 PORT=4711 HELO=client.test PROTO=ESMTP "
                            "LOGIN=alice")
        assert code == 220, msg
        s.ehlo()
        assert s.sendmail("alice@example.org", ["bob@example.net"], MSG) == {}
    pf.wait_log(r"client=[^\[ ]*\[127\.0\.0\.9\]:4711, sasl_method=XCLIENT, sasl_username=alice")
    pf.wait_log(r"to=<bob@example\.net>.*status=sent")
