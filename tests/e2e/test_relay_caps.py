"""Capabilities that depend on the relay: 8BITMIME, DSN, SMTPUTF8 offered only
when the relay offers them, their parameters refused with 555 5.5.4
otherwise; SIZE is the smaller of the local and the relay's limits; CHUNKING
is local."""

import pytest

from conftest import assert_reply, open_session, relay_config, submit, tls_client_context

EXT = {"eightbitmime": ("8BITMIME", "BODY=8BITMIME", None),
       "dsn": ("DSN", "RET=HDRS ENVID=abc", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.net"),
       "smtputf8": ("SMTPUTF8", "SMTPUTF8", None)}


def ehlo_caps(server, certs):
    c = server.connect()
    c.greeting()
    c.ehlo()
    c.starttls(tls_client_context(certs.bundle))
    return c, c.ehlo().capabilities()


@pytest.mark.parametrize("ext", sorted(EXT))
def test_offered_with_relay(submitd, recording_relay, certs, ext):
    keyword, mail_params, rcpt_params = EXT[ext]
    relay = recording_relay(**{ext: True})
    server = submitd(relay_config(relay))
    c, caps = ehlo_caps(server, certs)
    assert keyword in caps
    assert_reply(c.auth_plain(), 235)
    sender = "alice@example.org" if ext != "smtputf8" else "alicé@example.org"
    assert_reply(c.cmd(f"MAIL FROM:<{sender}> {mail_params}"), 250)
    assert_reply(c.cmd(f"RCPT TO:<bob@example.net>{' ' + rcpt_params if rcpt_params else ''}"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(b"Subject: caps\r\n\r\nx\r\n.\r\n")
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    for p in mail_params.split():
        k, _, v = p.partition("=")
        assert m.mail_params.get(k) == (v or True), m.mail_params
    if rcpt_params:
        assert m.rcpt_params[0].get("NOTIFY") == "SUCCESS,FAILURE"
        assert m.rcpt_params[0].get("ORCPT", "").lower() == "rfc822;bob@example.net"


@pytest.mark.parametrize("ext", sorted(EXT))
def test_not_offered_without_relay(submitd, recording_relay, certs, ext):
    keyword, mail_params, rcpt_params = EXT[ext]
    relay = recording_relay(**{ext: False})
    server = submitd(relay_config(relay))
    c, caps = ehlo_caps(server, certs)
    assert keyword not in caps
    assert_reply(c.auth_plain(), 235)
    assert_reply(c.cmd(f"MAIL FROM:<alice@example.org> {mail_params}"), 555, "5.5.4")
    if rcpt_params:
        assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
        assert_reply(c.cmd(f"RCPT TO:<bob@example.net> {rcpt_params}"), 555, "5.5.4")
    assert relay.transactions == [] or all(t.state != "accepted" for t in relay.transactions)


def test_all_relay_caps_off(submitd, recording_relay, certs):
    relay = recording_relay(eightbitmime=False, dsn=False, smtputf8=False, pipelining=False)
    server = submitd(relay_config(relay))
    _, caps = ehlo_caps(server, certs)
    for k in ("8BITMIME", "DSN", "SMTPUTF8", "BINARYMIME"):
        assert k not in caps
    for k in ("PIPELINING", "SIZE", "ENHANCEDSTATUSCODES", "CHUNKING", "VRFY", "AUTH"):
        assert k in caps, k  # local


def test_size_is_local_limit(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, limits={"max_message_size": 1_000_000}))
    _, caps = ehlo_caps(server, certs)
    assert caps["SIZE"] == ["1000000"]


def test_size_is_relay_limit_less_overhead(submitd, recording_relay, certs):
    relay = recording_relay(size=500_000)
    server = submitd(relay_config(relay, limits={"max_message_size": 1_000_000}))
    c, caps = ehlo_caps(server, certs)
    size = int(caps["SIZE"][0])
    assert 400_000 < size < 500_000, size  # less what submitd adds (Received)
    assert_reply(c.auth_plain(), 235)
    assert_reply(c.cmd(f"MAIL FROM:<alice@example.org> SIZE={size + 1}"), 552, "5.3.4")
    assert_reply(c.cmd(f"MAIL FROM:<alice@example.org> SIZE={size}"), 250)


def test_chunking_client_to_data_relay(submitd, recording_relay, certs):
    relay = recording_relay(chunking=False)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    body = b"Subject: bdat\r\n\r\n.dot\r\nend\r\n"
    c.send(b"BDAT %d\r\n" % 10 + body[:10])
    assert_reply(c.read_reply(), 250)
    c.send(b"BDAT %d LAST\r\n" % (len(body) - 10) + body[10:])
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    assert m.method == "DATA" and m.content.endswith(body)


def test_unknown_mail_parameter(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org> FOO=BAR"), 555, "5.5.4")
