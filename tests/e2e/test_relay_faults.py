"""Relay faults: each gives the client an exact reply, and the relay ends up
holding nothing or exactly one whole copy (never a partial or a duplicate).
The session lives on after each fault."""

import pytest

from conftest import (assert_reply, attempt, closed_port, dot_stuff, open_session, relay_config,
                      split_received, submit)

MSG = (b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: fault\r\n\r\n"
       + b"".join(b"line %05d of the body, long enough to span several relay writes\r\n" % i
                  for i in range(2000)))
GOOD = b"Subject: good\r\n\r\nthe good one\r\n"
FAST = {"connect_timeout": 2.0, "command_timeout": 2.0, "data_timeout": 2.0, "idle_timeout": 10.0}


def one_whole_copy(relay, content=MSG):
    (m,) = relay.wait_messages(1)
    _, rest = split_received(m.content)
    assert rest == content
    assert len(relay.messages) == 1
    return m


def session_still_works(c, relay, n_before=0):
    assert_reply(c.cmd("RSET"), 250)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], GOOD), 250)
    ms = relay.wait_messages(n_before + 1)
    _, rest = split_received(ms[-1].content)
    assert rest == GOOD


def test_relay_unreachable_451_441(submitd, certs):
    server = submitd(relay_config(f"127.0.0.1:{closed_port()}", relay_client=FAST))
    mark = server.mark()
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    # MAIL is answered here and goes to the relay with the first RCPT.
    assert stage == "rcpt"
    assert_reply(r, 451, "4.4.1")
    assert_reply(c.cmd("NOOP"), 250)
    ev = server.wait_event("relay-failed", after=mark)
    assert ev.get("stage") and ev.get("reason")


@pytest.mark.parametrize("reply,code,enh", [
    ("451 4.3.0 Mail server temporarily rejected message", 451, "4.3.0"),
    ("553 5.7.1 Sender address rejected: not owned by user", 553, "5.7.1"),
])
def test_mail_refused_by_relay(submitd, recording_relay, certs, reply, code, enh):
    relay = recording_relay(mail_reply=reply, fault_times=1)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    # The relay's MAIL reply answers the RCPT that took MAIL to it, and every
    # later RCPT of the transaction without asking the relay again.
    assert stage == "rcpt"
    assert_reply(r, code, enh)
    assert_reply(c.cmd("RCPT TO:<carol@example.net>"), code, enh)
    assert_reply(c.cmd("DATA"), 554, "5.5.1")
    assert relay.messages == []
    session_still_works(c, relay)


@pytest.mark.parametrize("reply,code,enh", [
    ("451 4.3.0 Temporary failure", 451, "4.3.0"),
    ("554 5.5.1 Error: no valid recipients", 554, "5.5.1"),
])
def test_data_refused_by_relay(submitd, recording_relay, certs, reply, code, enh):
    relay = recording_relay(data_reply=reply, fault_times=1)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    # The client has had its 354 (DATA goes to the relay as the client begins
    # its message): the relay's refusal answers the end of the message.
    assert stage == "eod"
    assert_reply(r, code, enh)
    assert relay.messages == []
    session_still_works(c, relay)


def test_data_reaches_relay_while_client_sends_message(submitd, recording_relay, certs):
    """DATA goes to the relay as soon as the client has its 354, so the
    relay's DATA round trip overlaps the client's upload: the relay is in
    DATA before the client has sent a byte of the message."""
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    relay.wait_for(lambda: any(t.method == "DATA" for t in relay._transactions) or None,
                   what="DATA at the relay before the client's message")
    c.send(dot_stuff(MSG))
    assert_reply(c.read_reply(), 250)
    one_whole_copy(relay)
    session_still_works(c, relay, 1)


def test_drop_after_early_data_retried_one_copy(submitd, recording_relay, certs):
    """The relay closes on the DATA sent while the client was still uploading:
    nothing of the message reached it, so it goes again on a fresh connection."""
    relay = recording_relay(drop_at="data", fault_times=1)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert stage == "eod"
    assert_reply(r, 250)
    one_whole_copy(relay)
    assert [t.state for t in relay.transactions] == ["aborted", "accepted"]


@pytest.mark.parametrize("reply,code,enh", [
    ("452 4.3.1 Insufficient system storage", 452, "4.3.1"),
    ("554 5.7.1 Message content rejected", 554, "5.7.1"),
])
def test_end_of_data_refused_by_relay(submitd, recording_relay, certs, reply, code, enh):
    relay = recording_relay(eod_reply=reply, fault_times=1)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert stage == "eod"
    assert_reply(r, code, enh)
    assert relay.messages == []
    (t,) = relay.wait_transactions(1, state="rejected")
    assert t.content.endswith(MSG), "the relay saw the whole message before refusing it"
    session_still_works(c, relay, 0)


@pytest.mark.parametrize("chunking", [False, True], ids=["data", "bdat"])
def test_drop_mid_data_once_retried_one_copy(submitd, recording_relay, certs, chunking):
    """The relay drops before the end of data was sent: submitd retries on a
    fresh connection with the spooled message; the client sees one 250 and the
    relay holds exactly one whole copy."""
    relay = recording_relay(drop_after=20000, fault_times=1, chunking=chunking)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert_reply(r, 250)
    one_whole_copy(relay)
    assert [t.state for t in relay.transactions] == ["dropped", "accepted"], relay.summary() if hasattr(relay, "summary") else [(t.state, t.method) for t in relay.transactions]


def test_drop_mid_data_always_451(submitd, recording_relay, certs):
    relay = recording_relay(drop_after=20000)
    server = submitd(relay_config(relay))
    mark = server.mark()
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert stage == "eod" and r.code == 451, r
    assert relay.messages == []
    server.wait_event("relay-failed", after=mark)
    relay.configure(drop_after=None)
    session_still_works(c, relay)


def test_drop_after_end_of_data_451_442_no_retry(submitd, recording_relay, certs):
    """The relay closes after the whole message, before its reply: the outcome
    is unknown, so 451 4.4.2 and no second attempt (it could duplicate)."""
    relay = recording_relay(drop_at="eod", fault_times=1)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert stage == "eod"
    assert_reply(r, 451, "4.4.2")
    assert [t.state for t in relay.transactions if t.method] == ["dropped"]
    session_still_works(c, relay)
    assert [t.state for t in relay.transactions] == ["dropped", "accepted"], relay.summary() if hasattr(relay, "summary") else [(t.state, t.method) for t in relay.transactions]


def test_stall_at_end_of_data_451_442(submitd, recording_relay, certs):
    relay = recording_relay(stall_at="eod")
    server = submitd(relay_config(relay, relay_client=FAST))
    c = open_session(server, certs)
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert stage == "eod"
    assert_reply(r, 451, "4.4.2")
    relay.release()


@pytest.mark.parametrize("stage", ["greeting", "ehlo", "mail"])
def test_stall_before_data_451(submitd, recording_relay, certs, stage):
    relay = recording_relay(stall_at=stage)
    server = submitd(relay_config(relay, relay_client=FAST), start=False)
    relay.configure(stall_at=None)  # let the start-up capability probe through
    server.start()
    relay.configure(stall_at=stage)
    c = open_session(server, certs)
    _, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert r.code == 451 and r.enhanced is not None and r.enhanced.startswith("4.4."), r
    assert relay.messages == []


def test_greeting_421_451(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, relay_client=FAST))
    relay.configure(greeting="421 4.3.2 Service shutting down")
    c = open_session(server, certs)
    _, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert r.code == 451, r
    assert relay.messages == []


def test_client_drops_mid_data_relay_holds_nothing(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    mark = server.mark()
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(dot_stuff(MSG)[: len(MSG) // 2])
    c.close()
    server.wait_event("disconnect", after=mark)
    # Sentinel: a later session's message reaches the relay; the dropped one never does.
    c2 = open_session(server, certs)
    assert_reply(submit(c2, "alice@example.org", ["carol@example.net"], GOOD), 250)
    (m,) = relay.wait_messages(1)
    assert m.rcpts == ["carol@example.net"]
    relay.wait_settled()
    assert len(relay.messages) == 1
    assert all(t.state != "accepted" for t in relay.transactions if t.rcpts == ["bob@example.net"])


def test_oversize_then_good_same_session(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, limits={"max_message_size": 100_000}))
    c = open_session(server, certs)
    big = b"Subject: big\r\n\r\n" + b"x" * 76 + b"\r\n"
    big = big * 2000  # ~156 KB
    stage, r = attempt(c, "alice@example.org", ["bob@example.net"], big)
    assert stage == "eod"
    assert_reply(r, 552, "5.3.4")
    # The relay was sent DATA as the client began: the refused message leaves
    # it with a connection that is closed (no end of data), never with the
    # next transaction's commands read as message text.
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], GOOD), 250)
    one_whole_copy(relay, GOOD)
    assert [t.state for t in relay.wait_settled()] != ["accepted"] * 2
    assert all(t.mail_from == "alice@example.org" for t in relay.transactions)


def test_size_parameter_over_limit(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, limits={"max_message_size": 100_000}))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org> SIZE=100001"), 552, "5.3.4")
    assert_reply(c.cmd("MAIL FROM:<alice@example.org> SIZE=1000"), 250)


def test_failover_second_relay_when_first_refuses(submitd, recording_relay, certs):
    second = recording_relay()
    server = submitd(relay_config(f"127.0.0.1:{closed_port()}", second, relay_client=FAST))
    c = open_session(server, certs)
    _, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert_reply(r, 250)
    one_whole_copy(second)


def test_failover_second_relay_when_first_drops(submitd, recording_relay, certs):
    first = recording_relay(drop_after=20000)
    second = recording_relay()
    server = submitd(relay_config(first, second))
    c = open_session(server, certs)
    _, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert_reply(r, 250)
    one_whole_copy(second)
    assert first.messages == []


def test_too_many_recipients(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, submission={"max_recipients": 2}))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<a@example.net>"), 250)
    assert_reply(c.cmd("RCPT TO:<b@example.net>"), 250)
    assert_reply(c.cmd("RCPT TO:<c@example.net>"), 452, "4.5.3")
    assert_reply(c.cmd("DATA"), 354)
    c.send(dot_stuff(GOOD))
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    assert m.rcpts == ["a@example.net", "b@example.net"]


def test_sequence_errors(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("DATA"), 503, "5.5.1")
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 503, "5.5.1")
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 503, "5.5.1")
    r = c.cmd("DATA")
    assert r.code in (503, 554) and r.enhanced == "5.5.1", r
    assert_reply(c.cmd("RSET"), 250)
    assert relay.messages == []

