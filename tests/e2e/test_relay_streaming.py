"""A big message goes on to the relay while the client sends it (past the
spool's 128 KiB memory window), and still nothing is lost or doubled: a
relay that drops mid-message gets the whole message again on a new
connection, a message refused here at its end (too big, a bare CR) never
ends at the relay, a relay that refused DATA gives its reply at the end."""

from conftest import assert_reply, dot_stuff, open_session, relay_config, split_received, submit

BIG = (b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: big\r\n\r\n"
       + b"".join(b"line %06d of a big body; .dots at the start are stuffed\r\n" % i
                  + (b".\r\n" if i % 1000 == 0 else b"")
                  for i in range(20000)))
GOOD = b"Subject: good\r\n\r\nthe good one\r\n"
# The client sends this much of BIG, then waits for the relay to have some.
FIRST = 700_000
# What the relay must have before the client sends the rest: more than one
# step of the spool's window.
STREAMED = 256 * 1024


def begin(c):
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("DATA"), 354)


def relay_has(relay, n, what):
    return relay.wait_for(
        lambda: next((t for t in relay._transactions if t.received >= n), None),
        what=what)


def test_big_message_reaches_relay_while_client_sends_it(submitd, recording_relay, certs):
    assert len(BIG) > 1_000_000
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    begin(c)
    wire = dot_stuff(BIG)
    c.send(wire[:FIRST])
    relay_has(relay, STREAMED, "part of the message at the relay before its end was sent")
    assert relay.messages == []
    c.send(wire[FIRST:])
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    _, rest = split_received(m.content)
    assert rest == BIG
    assert len(relay.messages) == 1
    # The next message on the same session and relay connection.
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], GOOD), 250)
    ms = relay.wait_messages(2)
    assert split_received(ms[-1].content)[1] == GOOD
    assert len({t.conn for t in relay._transactions}) == 1


def test_relay_drops_mid_message_whole_message_again(submitd, recording_relay, certs):
    relay = recording_relay(drop_after=STREAMED, fault_times=1)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    begin(c)
    wire = dot_stuff(BIG)
    c.send(wire[:FIRST])
    relay.wait_transactions(1, state="dropped")
    c.send(wire[FIRST:])
    assert_reply(c.read_reply(), 250)
    (m,) = relay.wait_messages(1)
    assert split_received(m.content)[1] == BIG
    assert len(relay.messages) == 1
    assert [t.state for t in relay.transactions] == ["dropped", "accepted"]


def test_too_big_after_streaming_never_ends_at_relay(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay, limits={"max_message_size": 600_000}))
    mark = server.mark()
    c = open_session(server, certs)
    begin(c)
    wire = dot_stuff(BIG)
    c.send(wire[:FIRST])
    relay_has(relay, STREAMED, "part of the message at the relay before it was too big")
    c.send(wire[FIRST:])
    assert_reply(c.read_reply(), 552, "5.3.4")
    # The relay was reading the message: its connection is closed without an
    # end of data, so it holds nothing.
    (t,) = relay.wait_transactions(1, state="aborted")
    assert t.received < len(wire)
    assert relay.messages == []
    server.wait_event("relay-close", after=mark)
    assert_reply(c.cmd("RSET"), 250)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], GOOD), 250)
    (m,) = relay.wait_messages(1)
    assert split_received(m.content)[1] == GOOD


def test_relay_refusing_data_answers_the_end(submitd, recording_relay, certs):
    relay = recording_relay(data_reply="452 4.3.1 Insufficient system storage", fault_times=1)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    begin(c)
    c.send(dot_stuff(BIG))
    assert_reply(c.read_reply(), 452, "4.3.1")
    assert relay.messages == []
    assert_reply(c.cmd("RSET"), 250)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], GOOD), 250)
    (m,) = relay.wait_messages(1)
    assert split_received(m.content)[1] == GOOD


def test_bare_cr_after_streaming_never_reaches_relay(submitd, recording_relay, certs):
    """Hostile bytes after part of the message went on: the bare CR is
    refused (554 5.6.0), nothing more goes to the relay, and its DATA is
    never ended: it holds nothing."""
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    begin(c)
    wire = dot_stuff(BIG)
    c.send(wire[:FIRST])
    relay_has(relay, STREAMED, "part of the message at the relay before the bare CR")
    c.send(b"\r\nsmuggled\rline\r\n" + wire[FIRST:])
    assert_reply(c.read_reply(), 554, "5.6.0")
    (t,) = relay.wait_transactions(1, state="aborted")
    assert b"smuggled" not in t.wire
    assert relay.messages == []
    assert_reply(c.cmd("RSET"), 250)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], GOOD), 250)
    (m,) = relay.wait_messages(1)
    assert split_received(m.content)[1] == GOOD
