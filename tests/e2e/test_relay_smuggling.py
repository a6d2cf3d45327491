"""SMTP smuggling: a DATA body with a bare-LF/bare-CR end-of-data look-alike
followed by a second transaction's commands must never yield a second
message at the relay. The recording relay runs in lenient mode (it also ends
the content at those look-alikes, as vulnerable MTAs do), so anything that
passes them through shows up there as a second transaction."""

import pytest

from conftest import assert_reply, open_session, relay_config
from relay_server import has_bare_cr_or_lf

SEQUENCES = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\n", b"\n.\r"]
SMUGGLED = (b"MAIL FROM:<ceo@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
            b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\nsmuggled\r\n")


@pytest.mark.parametrize("chunking", [False, True], ids=["relay-data", "relay-bdat"])
@pytest.mark.parametrize("bare", ["normalize", "reject"], ids=["bare-normalize", "bare-reject"])
@pytest.mark.parametrize("seq", SEQUENCES, ids=lambda s: repr(s)[2:-1])
def test_smuggling_never_second_message(submitd, recording_relay, certs, seq, bare, chunking):
    relay = recording_relay(lenient_eod=True, chunking=chunking)
    server = submitd(relay_config(relay, submission={"bare_lf": bare, "bare_cr": bare}))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(b"From: alice@example.org\r\nSubject: first\r\n\r\nfirst" + seq + SMUGGLED + b".\r\n")
    r = c.read_reply()
    # Whatever submitd decides (relay it normalized, or refuse it), the session
    # then proves its end of data was the real one: the next command is a command.
    assert r.code in (250, 554), r
    if r.code == 554:
        assert r.enhanced is not None and r.enhanced.startswith("5.6."), r
    assert_reply(c.cmd("NOOP"), 250)
    assert_reply(c.cmd("QUIT"), 221)
    relay.wait_settled()
    if r.code == 250:
        (m,) = relay.wait_messages(1)
        assert not has_bare_cr_or_lf(m.content)
        assert b"smuggled" in m.content  # the look-alike stayed inside the one message
    senders = [t.mail_from for t in relay.transactions]
    assert "ceo@example.org" not in senders, f"second message at the relay: {senders}"
    assert len(relay.messages) == (1 if r.code == 250 else 0)


@pytest.mark.parametrize("seq", [b"\x00", b"\r\n\x00.\r\n"], ids=["nul", "nul-dot"])
def test_nul_bytes_do_not_end_data(submitd, recording_relay, certs, seq):
    relay = recording_relay(lenient_eod=True)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(b"Subject: nul\r\n\r\nx" + seq + b"\r\n" + SMUGGLED + b".\r\n")
    r = c.read_reply()
    assert r.code in (250, 554), r
    assert_reply(c.cmd("NOOP"), 250)
    relay.wait_settled()
    assert "ceo@example.org" not in [t.mail_from for t in relay.transactions]
