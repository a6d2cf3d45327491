"""Relay connections kept between sessions: a worker's idle relay connection
serves its next session (no connect, greeting and EHLO again), unless the
session left a transaction open, the connection carries a per-session
identity (XCLIENT), the relay closed it, or it waited past
relay_client.idle_timeout (then it is closed with QUIT)."""

from conftest import assert_reply, open_session, relay_config, submit

MSG = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: pool\r\n\r\nkept\r\n"


def session_connects(server) -> list:
    return [e for e in server.events("relay-connect") if e.get("session") != "probe"]


def one_worker(relay, **kw):
    cfg = relay_config(relay, **kw)
    cfg["server"] = {"workers": 1}
    return cfg


def test_next_session_reuses_the_relay_connection(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(one_worker(relay))
    for _ in range(3):
        c = open_session(server, certs)
        assert_reply(submit(c, "alice@example.org", ["bob@example.net"], MSG), 250)
        assert_reply(c.cmd("QUIT"), 221)
    msgs = relay.wait_messages(3)
    assert len({m.conn for m in msgs}) == 1, [m.conn for m in msgs]
    assert len(session_connects(server)) == 1
    assert all(m.content.endswith(MSG) for m in msgs)


def test_open_transaction_is_not_handed_on(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(one_worker(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 250)
    assert_reply(c.cmd("RCPT TO:<bob@example.net>"), 250)
    assert_reply(c.cmd("QUIT"), 221)
    (t,) = relay.wait_transactions(1)
    # The unfinished transaction's connection is closed, never reused.
    relay.wait_for(lambda: relay.connections[t.conn - 1].closed or None, what="its close")
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], MSG), 250)
    (m,) = relay.wait_messages(1)
    assert m.conn != t.conn


def test_xclient_connections_are_per_session(submitd, recording_relay, certs):
    relay = recording_relay(xclient=True)
    server = submitd(one_worker({"address": relay.address, "xclient": True}))
    for _ in range(2):
        c = open_session(server, certs)
        assert_reply(submit(c, "alice@example.org", ["bob@example.net"], MSG), 250)
        assert_reply(c.cmd("QUIT"), 221)
    msgs = relay.wait_messages(2)
    assert msgs[0].conn != msgs[1].conn


def test_connection_the_relay_closed_is_replaced(submitd, postfix_relay, certs):
    """Postfix times the idle connection out (421, then closes): the next
    session gets a fresh connection and its message goes through."""
    pf = postfix_relay(smtpd_timeout="1s")
    server = submitd(one_worker(pf))
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net"], MSG), 250)
    assert_reply(c.cmd("QUIT"), 221)
    pf.wait_log(r"timeout after END-OF-MESSAGE|timeout after BDAT")
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["carol@example.net"], MSG), 250)
    pf.wait_log(r"to=<carol@example\.net>.*status=sent")
    assert len(session_connects(server)) == 2
