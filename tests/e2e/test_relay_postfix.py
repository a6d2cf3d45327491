"""Real Postfix on the relay side: a private smtpd with STARTTLS and
XCLIENT (its log shows what XCLIENT carried), and smtp-sink."""

import pytest

from conftest import USER, assert_reply, open_session, relay_config, submit

MSG = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: postfix\r\n\r\nhello postfix\r\n"


@pytest.mark.parametrize("tls", ["none", "starttls"])
def test_xclient_to_postfix(submitd, postfix_relay, certs, tls):
    pf = postfix_relay()
    entry = {"address": pf.address, "xclient": True, "tls": tls}
    if tls != "none":
        entry.update(ca_file=str(certs.bundle), server_name="mx.test")
    server = submitd(relay_config(entry))
    c = open_session(server, certs, ehlo="laptop.client.test", source="127.0.0.2")
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], MSG), 250)
    pf.wait_log(r"client=[^\[ ]*\[127\.0\.0\.2\]:%d, sasl_method=XCLIENT, sasl_username=%s$"
                % (c.local_port, USER))
    pf.wait_log(r"to=<bob@example\.net>.*status=sent")
    if tls != "none":
        pf.wait_log(r"TLS connection established from \S+\[127\.0\.0\.1\]")


def test_postfix_without_xclient_trust_451_470(submitd, postfix_relay, certs):
    pf = postfix_relay(smtpd_authorized_xclient_hosts="")
    server = submitd(relay_config({"address": pf.address, "xclient": True}))
    c = open_session(server, certs)
    from conftest import attempt
    _, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert_reply(r, 451, "4.7.0")
    server.wait_event("relay-failed")


def test_postfix_chunking_byte_count(submitd, postfix_relay, certs):
    """Postfix offers CHUNKING: the message goes as BDAT and Postfix accepts it."""
    pf = postfix_relay()
    # A relay connection outlives its session by relay_client.idle_timeout
    # (kept for the next session): keep that short here.
    server = submitd(relay_config(pf, relay_client={"idle_timeout": 0.5}))
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], MSG * 50), 250)
    pf.wait_log(r"from=<alice@example\.org>, size=\d+, nrcpt=1")
    # Postfix counts commands in its disconnect line: end the session; its
    # relay connection is closed (QUIT) once idle for idle_timeout.
    assert_reply(c.cmd("QUIT"), 221)
    pf.wait_log(r"bdat=\d+")


def test_smtp_sink_relay(submitd, smtp_sink, certs):
    sink = smtp_sink()
    server = submitd(relay_config(sink))
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net", "carol@example.net"], MSG), 250)
    (dump,) = sink.wait_messages(1)
    assert b"X-Mail-Args: <alice@example.org>" in dump
    assert b"X-Rcpt-Args: <bob@example.net>" in dump and b"X-Rcpt-Args: <carol@example.net>" in dump
    assert dump.endswith(MSG.replace(b"\r\n", b"\n") + b"\n")
    assert b"\nReceived: from client.test ([127.0.0.1])" in dump


def test_smtp_sink_refusing_rcpt(submitd, smtp_sink, certs):
    sink = smtp_sink("-f", "RCPT")
    server = submitd(relay_config(sink))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 500, "5.3.0")
