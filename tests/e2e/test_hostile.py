"""The hostile catalogue (issue 6, item 3): what a hostile or broken client
does to submitd, and what it must get back. Each test asserts the exact
reply (code and enhanced code), that nothing unintended reaches the relay,
and that the server then serves another client normally
(serves_another_client: a fresh session submits a message the relay holds).

Covered elsewhere, and not repeated here: smuggling sequences in DATA
(test_relay_smuggling.py), command and AUTH line limits and bad-command
limits before login, slowloris before login, per-address connection limits
(test_limits.py, test_auth.py), STARTTLS injection of NOOP/AUTH in the same
write (test_starttls.py), AUTH= towards a relay with AUTH
(test_relay_basic.py), max_recipients with a few recipients and SIZE= over
the limit (test_relay_faults.py)."""

import os
import re
import resource
import select
import time

import pytest

from conftest import (HOSTNAME, PASSWORD, USER, WAIT, assert_reply, b64, dot_stuff, open_session,
                      plain_ir, relay_config, split_received, submit, tls_client_context,
                      wait_until)
from relay_server import has_bare_cr_or_lf

SENDER = "alice@example.org"
RCPT = "bob@example.net"
BODY = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hostile\r\n\r\nhello\r\n"
SMUGGLED = (b"MAIL FROM:<ceo@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
            b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\nsmuggled\r\n")


def serves_another_client(server, certs, relay):
    """The server is up and a fresh session submits a message that the relay
    then holds."""
    assert server.proc.poll() is None, f"submitd exited ({server.proc.returncode})"
    before = len(relay.messages)
    marker = b"served-after-%d" % before
    with open_session(server, certs) as c:
        r = submit(c, SENDER, [RCPT], b"Subject: " + marker + b"\r\n\r\nstill served\r\n")
        assert_reply(r, 250, "2.0.0")
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
    held = relay.wait_messages(before + 1)
    assert any(marker in m.content for m in held), "the fresh session's message is not at the relay"


def nobody_logged_in_nothing_relayed(server, certs, relay, mark):
    """Once the session since `mark` has ended: no login, no transaction at
    the relay, and the server serves another client."""
    server.wait_event("disconnect", after=mark)
    assert server.events("login", after=mark) == []
    assert relay.transactions == []
    serves_another_client(server, certs, relay)


def codes(replies):
    return [(r.code, r.enhanced) for r in replies]


def begin_transaction(c, rcpts=(RCPT,)):
    assert_reply(c.cmd(f"MAIL FROM:<{SENDER}>"), 250, "2.1.0")
    for rc in rcpts:
        assert_reply(c.cmd(f"RCPT TO:<{rc}>"), 250)


def trickle(c, data: bytes, interval: float, limit: float):
    """Sends `data` one byte every `interval` seconds until the server
    answers or closes (or `limit` seconds pass): (closed, seconds from the
    first byte, what the server sent until it closed)."""
    t0 = time.monotonic()
    for i in range(len(data)):
        try:
            c.send(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return True, time.monotonic() - t0, b""
        readable, _, _ = select.select([c.sock], [], [], interval)
        if readable or time.monotonic() - t0 > limit:
            break
    elapsed = time.monotonic() - t0
    if not readable:
        return False, elapsed, b""
    got = c.read_until_eof(timeout=WAIT)
    return True, elapsed, got


def parse_replies(data: bytes):
    """Complete replies in `data`, as (code, enhanced) pairs."""
    out = []
    for line in data.split(b"\r\n"):
        m = re.match(rb"^(\d{3}) (?:([245]\.\d{1,3}\.\d{1,3}) )?", line)
        if m:
            out.append((int(m.group(1)), m.group(2).decode() if m.group(2) else None))
    return out


# --------------------------------------------------------------------------
# Smuggling in BDAT: the chunk is length-delimited, so a terminator look-alike
# (or a real CRLF.CRLF) inside it is content. Relayed as BDAT it stays as it
# is; relayed as DATA (the relay has no CHUNKING) the dot-stuffer must make it
# harmless. The relay is lenient (it also ends DATA at bare-LF/CR look-alikes,
# as vulnerable MTAs do), so a leak shows there as a second transaction.

BDAT_SEQUENCES = [b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\n",
                  b"\n.\r"]


@pytest.mark.parametrize("relay_chunking", [False, True], ids=["relay-data", "relay-bdat"])
@pytest.mark.parametrize("seq", BDAT_SEQUENCES, ids=lambda s: repr(s)[2:-1])
def test_bdat_smuggling_stays_one_message(submitd, recording_relay, certs, seq, relay_chunking):
    relay = recording_relay(lenient_eod=True, chunking=relay_chunking)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    begin_transaction(c)
    content = b"From: alice@example.org\r\nSubject: first\r\n\r\nfirst" + seq + SMUGGLED + b"end\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(content) + content)
    assert_reply(c.read_reply(), 250, "2.0.0")
    assert_reply(c.cmd("NOOP"), 250, "2.0.0")
    relay.wait_settled()
    (m,) = relay.messages
    assert [t.mail_from for t in relay.transactions] == [SENDER], "a second transaction at the relay"
    _, rest = split_received(m.content)
    if relay_chunking:
        assert m.method == "BDAT"
        assert rest == content  # byte for byte: BDAT carries what BDAT brought
    else:
        assert m.method == "DATA"
        assert not has_bare_cr_or_lf(m.content)
        assert rest == re.sub(rb"\r\n|\r|\n", b"\r\n", content)  # bare CR/LF made CRLF
    assert b"MAIL FROM:<ceo@example.org>" in rest  # the look-alike stayed inside the one message
    c.close()
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# STARTTLS injection (CVE-2011-0411) beyond test_starttls.py: a whole
# transaction pipelined after STARTTLS reaches nothing, and plaintext sent
# after the 220 (before the handshake) is never run as a command.


def test_starttls_injected_transaction_reaches_nothing(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    mark = server.mark()
    with server.connect() as c:
        assert_reply(c.greeting(), 220)
        c.ehlo()
        c.send(b"STARTTLS\r\n" + f"AUTH PLAIN {plain_ir()}\r\n".encode() + SMUGGLED + b".\r\n")
        assert_reply(c.read_reply(), 220, "2.0.0")
        assert c.buf == b"", f"data after the 220: {c.buf!r}"
        c.sock = tls_client_context(certs.bundle).wrap_socket(c.sock, server_hostname=HOSTNAME)
        r = c.cmd("EHLO client.test")
        assert_reply(r, 250)
        assert r.lines[0].startswith(HOSTNAME), f"not the EHLO reply: {r}"
        assert_reply(c.cmd("MAIL FROM:<ceo@example.org>"), 530, "5.7.0")
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
    nobody_logged_in_nothing_relayed(server, certs, relay, mark)


def test_plaintext_after_starttls_reply_is_not_a_command(submitd, recording_relay, certs):
    """Bytes that arrive after the 220 are the start of the handshake: a
    command there breaks it (the server logs tls-failed and closes) and is
    never answered."""
    relay = recording_relay()
    server = submitd(relay_config(relay))
    mark = server.mark()
    with server.connect() as c:
        assert_reply(c.greeting(), 220)
        c.ehlo()
        assert_reply(c.cmd("STARTTLS"), 220, "2.0.0")
        c.send(b"NOOP\r\nQUIT\r\n")
        data = c.read_until_eof(timeout=WAIT)
    assert parse_replies(data) == [], f"an SMTP reply to bytes sent after the 220: {data!r}"
    ev = server.wait_event("tls-failed", after=mark)
    assert ev.get("reason"), ev.line
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# AUTH: the line after a 334 is a SASL response, never a command; commands
# pipelined after a failed AUTH run unauthenticated.


def test_line_after_334_is_a_sasl_response(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    mark = server.mark()
    with server.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        assert_reply(c.greeting(), 220)
        c.ehlo()
        # "QUIT" is valid base64: the user name (refused: it decodes to control
        # bytes), not a QUIT: the session stays open.
        c.send(b"AUTH LOGIN\r\nQUIT\r\n")
        r = c.read_reply()
        assert (r.code, r.lines) == (334, [b64("Username:")]), r
        assert_reply(c.read_reply(), 501, "5.5.2")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        # Not base64: the exchange fails; the MAIL line was not a command either.
        c.send(b"AUTH PLAIN\r\nMAIL FROM:<alice@example.org>\r\n")
        r = c.read_reply()
        assert (r.code, r.lines) == (334, [""]), r
        assert_reply(c.read_reply(), 501, "5.5.2")
        assert_reply(c.cmd("MAIL FROM:<alice@example.org>"), 530, "5.7.0")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
    nobody_logged_in_nothing_relayed(server, certs, relay, mark)


def test_commands_pipelined_after_failed_auth_run_unauthenticated(submitd, recording_relay, certs):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    with server.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        assert_reply(c.greeting(), 220)
        c.ehlo()
        c.send(f"AUTH PLAIN {plain_ir(USER, 'wrong')}\r\nMAIL FROM:<{SENDER}>\r\n"
               f"RCPT TO:<{RCPT}>\r\nDATA\r\nNOOP\r\n".encode())
        replies = [c.read_reply() for _ in range(5)]
        assert codes(replies) == [(535, "5.7.8"), (530, "5.7.0"), (530, "5.7.0"),
                                  (530, "5.7.0"), (250, "2.0.0")], replies
    assert relay.transactions == []
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Overlong lines and parameters after AUTH (the pre-login ones are in
# test_limits.py and test_auth.py).


def test_overlong_rcpt_in_a_pipelined_group(submitd, recording_relay, certs):
    """An overlong line in the middle of a transaction is 500 5.5.2, its tail
    is not read as a command, and the transaction goes on unchanged."""
    relay = recording_relay()
    server = submitd(relay_config(relay, limits={"max_command_line": 512}))
    c = open_session(server, certs)
    long_rcpt = "RCPT TO:<" + "a" * 600 + "@example.net> NOTIFY=NEVER"
    c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<one@example.net>\r\n{long_rcpt}\r\n"
           "RCPT TO:<two@example.net>\r\nDATA\r\n".encode())
    replies = [c.read_reply() for _ in range(5)]
    assert codes(replies) == [(250, "2.1.0"), (250, "2.1.5"), (500, "5.5.2"), (250, "2.1.5"),
                              (354, None)], replies
    c.send(dot_stuff(BODY))
    assert_reply(c.read_reply(), 250, "2.0.0")
    (m,) = relay.wait_messages(1)
    assert m.rcpts == ["one@example.net", "two@example.net"]
    c.close()
    serves_another_client(server, certs, relay)


@pytest.mark.parametrize("params,code,enhanced", [
    ("ENVID=" + "x" * 101, 501, "5.5.4"),            # RFC 3461: at most 100
    ("X" + "Y" * 1000 + "=1", 555, "5.5.4"),          # unknown keyword (echoed cut short)
    ("SIZE=1 " * 250, 501, "5.5.4"),                 # one SIZE only
    ("BODY=8BITMIME " + "FOO=" + "z" * 1500, 555, "5.5.4"),
], ids=["envid-101", "long-keyword", "250-sizes", "long-unknown-value"])
def test_overlong_mail_parameters(submitd, recording_relay, certs, params, code, enhanced):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    line = f"MAIL FROM:<{SENDER}> {params}".rstrip()
    assert len(line) <= 2048  # within max_command_line: the parameter checks answer
    r = c.cmd(line)
    assert_reply(r, code, enhanced)
    if code == 555:
        assert len(r.text) < 100, f"the reply echoes the whole keyword: {r}"
    assert_reply(c.cmd("RSET"), 250, "2.0.0")
    assert_reply(submit(c, SENDER, [RCPT], BODY), 250, "2.0.0")
    (m,) = relay.wait_messages(1)
    assert m.mail_params == {}
    c.close()
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# NUL and 8-bit bytes in commands


@pytest.mark.parametrize("stage,line,code,enhanced", [
    ("login", b"NO\x00OP", 500, "5.5.2"),
    ("login", b"EHLO client\x00.test", 500, "5.5.2"),
    ("login", b"EHLO h\xc3\xa9llo.test", 501, "5.5.4"),
    ("login", b"N\xc3\x96OP", 500, "5.5.2"),
    ("login", b"AUTH PLAIN \x00alice\x00" + PASSWORD.encode(), 500, "5.5.2"),
    ("login", b"\xff\xfe\xfd", 500, "5.5.2"),
    ("submission", b"MAIL FROM:<al\x00ice@example.org>", 500, "5.5.2"),
    ("submission", b"MAIL FROM:<j\xc3\xb6rg@example.org>", 553, "5.6.7"),
    ("submission", b"MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8 BODY=\xff", 501, "5.5.4"),
    ("submission", b"MAIL FROM:<\xff\xfe@example.org> SMTPUTF8", 553, "5.1.3"),
    ("submission", b"VRFY \x00", 500, "5.5.2"),
    ("submission", b"R\xc3\xa9SET", 500, "5.5.2"),
], ids=["nul-verb", "nul-ehlo", "8bit-ehlo", "8bit-verb", "nul-auth-ir", "bytes-only",
        "nul-mail", "utf8-mail-without-smtputf8", "8bit-param", "bad-utf8-mail", "nul-vrfy",
        "8bit-rset"])
def test_nul_and_8bit_in_commands(submitd, recording_relay, certs, stage, line, code, enhanced):
    relay = recording_relay(smtputf8=True)
    server = submitd(relay_config(relay))
    mark = server.mark()
    if stage == "login":
        c = server.connect()
        assert_reply(c.greeting(), 220)
        if not line.startswith(b"EHLO"):
            c.ehlo()
    else:
        c = open_session(server, certs)
    with c:
        assert_reply(c.cmd(line), code, enhanced)
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
    server.wait_event("disconnect", after=mark)
    text = server.log_text()[mark:]
    assert "\x00" not in text and "\ufffd" not in text, "raw client bytes in the log"
    if stage == "login":
        assert server.events("login", after=mark) == []
    assert relay.transactions == []
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Huge and negative sizes


@pytest.mark.parametrize("value,code,enhanced", [
    ("-1", 501, "5.5.4"),
    ("+5", 501, "5.5.4"),
    ("", 501, "5.5.4"),
    ("1e9", 501, "5.5.4"),
    ("0x10", 501, "5.5.4"),
    ("18446744073709551615", 552, "5.3.4"),   # 2^64-1
    ("99999999999999999999", 552, "5.3.4"),   # 20 digits, past 2^64: still a size, too big
    ("100000000000000000000", 501, "5.5.4"),  # 21 digits (RFC 1870: 1*20DIGIT)
    ("000000000000000000000001", 501, "5.5.4"),
], ids=["negative", "plus", "empty", "exponent", "hex", "u64-max", "20-digits", "21-digits",
        "24-digit-one"])
def test_size_parameter_values(submitd, recording_relay, certs, value, code, enhanced):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd(f"MAIL FROM:<{SENDER}> SIZE={value}"), code, enhanced)
    # Nothing was started: a plain transaction follows in the same session.
    assert_reply(submit(c, SENDER, [RCPT], BODY), 250, "2.0.0")
    relay.wait_messages(1)
    assert len(relay.transactions) == 1
    c.close()
    serves_another_client(server, certs, relay)


@pytest.mark.parametrize("size", ["-1", "18446744073709551616", "123456789012345678901", "1e3",
                                  "0x10", "LAST"],
                         ids=["negative", "2^64", "21-digits", "exponent", "hex", "no-size"])
def test_bdat_unparseable_size_closes(submitd, recording_relay, certs, size):
    """The chunk's end cannot be known: 501 5.5.4, then 421 4.7.0 and the
    connection is closed (so the chunk is never read as commands)."""
    relay = recording_relay()
    server = submitd(relay_config(relay))
    mark = server.mark()
    c = open_session(server, certs)
    begin_transaction(c)
    c.send(f"BDAT {size} LAST\r\n".encode() + SMUGGLED)
    replies = c.replies_until_eof(timeout=WAIT)
    assert codes(replies) == [(501, "5.5.4"), (421, "4.7.0")], replies
    server.wait_event("disconnect", after=mark, reason="bad-bdat")
    relay.wait_settled()
    assert relay.messages == []
    serves_another_client(server, certs, relay)


def test_bdat_chunk_of_2_64_minus_1_octets(submitd, recording_relay, certs):
    """A chunk size that fits but can never arrive: the chunk is read (and
    thrown away past max_message_size, in bounded memory) until the client
    stops; then the idle timeout closes the session with 421 4.4.2."""
    relay = recording_relay()
    server = submitd(relay_config(relay, limits={"idle_timeout": 1.0, "max_message_size": 65536}))
    mark = server.mark()
    c = open_session(server, certs)
    begin_transaction(c)
    c.send(b"BDAT 18446744073709551615 LAST\r\n")
    for _ in range(64):  # 4 MiB
        c.send(b"x" * 65536)
    replies = c.replies_until_eof(timeout=WAIT)
    assert codes(replies) == [(421, "4.4.2")], replies
    server.wait_event("disconnect", after=mark, reason="timeout")
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{server.proc.pid}/status").read()).group(1))
    assert rss_kb < 100 * 1024, f"RSS {rss_kb} kB after a 4 MiB chunk over the limit"
    relay.wait_settled()
    assert relay.messages == []
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Thousands of recipients


def test_thousands_of_recipients(submitd, recording_relay, certs):
    """2000 RCPTs in one write: the first max_recipients (100) go to the
    relay, every later one is 452 4.5.3 (not a bad command: the session is
    not closed for them), and the message goes to the 100."""
    relay = recording_relay()
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    assert_reply(c.cmd(f"MAIL FROM:<{SENDER}>"), 250, "2.1.0")
    rcpts = [f"r{i:04d}@example.net" for i in range(2000)]
    c.send("".join(f"RCPT TO:<{r}>\r\n" for r in rcpts).encode() + b"DATA\r\n")
    replies = [c.read_reply() for _ in range(len(rcpts) + 1)]
    assert codes(replies[:100]) == [(250, "2.1.5")] * 100
    assert codes(replies[100:-1]) == [(452, "4.5.3")] * 1900
    assert_reply(replies[-1], 354)
    c.send(dot_stuff(BODY))
    assert_reply(c.read_reply(), 250, "2.0.0")
    (m,) = relay.wait_messages(1)
    assert m.rcpts == rcpts[:100]
    # The session goes on: the next transaction starts from zero recipients.
    assert_reply(submit(c, SENDER, rcpts[1900:1999], BODY), 250, "2.0.0")
    assert relay.wait_messages(2)[1].rcpts == rcpts[1900:1999]
    c.close()
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Identity: a client cannot change who it is


@pytest.mark.parametrize("after_auth", [False, True], ids=["before-auth", "after-auth"])
def test_client_xclient_is_refused(submitd, recording_relay, certs, after_auth):
    relay = recording_relay(xclient=True)
    server = submitd(relay_config({"address": relay.address, "xclient": True}))
    spoof = "XCLIENT ADDR=6.6.6.6 PORT=1 NAME=spoofed.example LOGIN=admin HELO=spoofed.example"
    if after_auth:
        c = open_session(server, certs)
    else:
        c = server.connect("submissions", tls=tls_client_context(certs.bundle))
        assert_reply(c.greeting(), 220)
        c.ehlo()
    with c:
        assert_reply(c.cmd(spoof), 500, "5.5.1")
        if not after_auth:
            assert_reply(c.auth_plain(), 235, "2.7.0")
        assert_reply(submit(c, SENDER, [RCPT], BODY), 250, "2.0.0")
    (m,) = relay.wait_messages(1)
    conn = [x for x in relay.connections if x.id == m.conn][0]
    assert conn.xclient, "submitd sent no XCLIENT of its own"
    x = conn.xclient[-1]
    assert x["ADDR"] == "127.0.0.1" and x["LOGIN"] == USER, x
    assert "spoofed" not in repr(conn.xclient) and "6.6.6.6" not in repr(conn.xclient)
    serves_another_client(server, certs, relay)


@pytest.mark.parametrize("relay_auth", [False, True], ids=["relay-without-auth", "relay-with-auth"])
@pytest.mark.parametrize("claim", ["<mallory@example.org>", "mallory+40example.org", "<>", "admin"])
def test_mail_auth_param_is_never_forwarded_as_claimed(submitd, recording_relay, certs, claim,
                                                       relay_auth):
    if relay_auth:
        relay = recording_relay(auth={"submitd": "relaypw"})
        entry = {"address": relay.address, "auth_user": "submitd", "auth_password": "relaypw"}
    else:
        relay = recording_relay()
        entry = relay
    server = submitd(relay_config(entry))
    c = open_session(server, certs)
    assert_reply(submit(c, SENDER, [RCPT], BODY, mail_params=f"AUTH={claim}"), 250, "2.0.0")
    (m,) = relay.wait_messages(1)
    if relay_auth:
        assert m.mail_params.get("AUTH") == USER, m.mail_params  # the login, not the claim
    else:
        assert "AUTH" not in m.mail_params, m.mail_params  # dropped: the relay has no AUTH
    # A malformed AUTH= is a syntax error, not silently dropped.
    assert_reply(c.cmd(f"MAIL FROM:<{SENDER}> AUTH=+ZZ"), 501, "5.5.4")
    assert_reply(c.cmd(f"MAIL FROM:<{SENDER}> AUTH=<> AUTH={claim}"), 501, "5.5.4")
    c.close()
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Enormous header lines: submitd sets no line-length limit on message
# content (RFC 5321's 1000 octets is the relay's to enforce): a header line
# of any length within max_message_size is relayed intact, byte for byte.


@pytest.mark.parametrize("chunking", [False, True], ids=["data", "bdat"])
def test_enormous_header_line_is_relayed_intact(submitd, recording_relay, certs, chunking):
    relay = recording_relay(chunking=chunking)
    server = submitd(relay_config(relay))
    c = open_session(server, certs)
    content = (b"From: alice@example.org\r\nX-Huge: " + b"h" * (1 << 20) + b"\r\n"
               b"Subject: huge header\r\n\r\nbody\r\n")
    r = submit(c, SENDER, [RCPT], content)
    assert_reply(r, 250, "2.0.0")
    (m,) = relay.wait_messages(1)
    _, rest = split_received(m.content)
    assert rest == content
    c.close()
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Not an open relay


@pytest.mark.parametrize("how", ["plaintext", "starttls", "implicit"])
def test_unauthenticated_mail_reaches_nothing(submitd, recording_relay, certs, how):
    relay = recording_relay()
    server = submitd(relay_config(relay))
    if how == "implicit":
        c = server.connect("submissions", tls=tls_client_context(certs.bundle))
        assert_reply(c.greeting(), 220)
    else:
        c = server.connect()
        assert_reply(c.greeting(), 220)
        if how == "starttls":
            c.ehlo()
            c.starttls(tls_client_context(certs.bundle))
    with c:
        c.ehlo()
        c.send(b"MAIL FROM:<spammer@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
               b"VRFY victim@example.net\r\nQUIT\r\n")
        replies = c.replies_until_eof(timeout=WAIT)
    assert codes(replies) == [(530, "5.7.0")] * 4 + [(221, "2.0.0")], replies
    assert relay.transactions == []
    serves_another_client(server, certs, relay)


def test_bdat_before_auth_chunk_is_not_run_as_commands(submitd, recording_relay, certs):
    """CHUNKING is announced before AUTH too, so the octets after a BDAT line
    are its chunk (RFC 3030 section 2) even when BDAT is refused: they must
    be skipped, not run (here: a QUIT inside the chunk must not end the
    session)."""
    relay = recording_relay()
    server = submitd(relay_config(relay))
    with server.connect() as c:
        assert_reply(c.greeting(), 220)
        assert "CHUNKING" in c.ehlo().capabilities()
        chunk = b"QUIT\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"NOOP\r\n")
        assert_reply(c.read_reply(), 530, "5.7.0")
        assert_reply(c.read_reply(), 250, "2.0.0")
        # A size that cannot be parsed leaves the chunk's end unknown: closed.
        c.send(b"BDAT 1e3 LAST\r\nQUIT\r\n")
        replies = c.replies_until_eof(timeout=WAIT)
        assert [(r.code, r.enhanced) for r in replies] == [(501, "5.5.4"), (421, "4.7.0")], replies
    assert relay.transactions == []
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Slowloris after login: the command deadline is not extended by trickled
# bytes, in the submission stage and in a SASL exchange (before login the
# same is in test_limits.py).


@pytest.mark.parametrize("where", ["mail-command", "sasl-response"])
def test_trickled_line_cut_off_by_command_deadline(submitd, recording_relay, certs, where):
    relay = recording_relay()
    server = submitd(relay_config(relay, limits={"command_timeout": 2.0, "idle_timeout": 30.0}))
    mark = server.mark()
    if where == "mail-command":
        c = open_session(server, certs)
        line = f"MAIL FROM:<{SENDER}>".encode() * 4
    else:
        c = server.connect("submissions", tls=tls_client_context(certs.bundle))
        assert_reply(c.greeting(), 220)
        c.ehlo()
        r = c.cmd("AUTH LOGIN")
        assert r.code == 334, r
        line = b64(USER * 10).encode()
    with c:
        closed, elapsed, data = trickle(c, line, interval=0.3, limit=15)
    assert closed, "a trickled line kept the session open"
    assert parse_replies(data) == [(421, "4.4.2")], data
    assert b"Command timeout" in data, data
    assert 1.5 <= elapsed < 8, f"cut off after {elapsed:.1f}s, command_timeout is 2.0"
    server.wait_event("disconnect", after=mark, reason="timeout")
    if where == "sasl-response":
        assert server.events("login", after=mark) == []
    assert relay.messages == []
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Minimum data rate during DATA and BDAT (limits.min_data_rate)

RATE = {"idle_timeout": 2.0, "command_timeout": 30.0, "min_data_rate": 1000}


@pytest.mark.parametrize("method", ["DATA", "BDAT"])
def test_trickled_body_cut_off_by_min_data_rate(submitd, recording_relay, certs, method):
    """A byte every 0.3 s: each read is well within idle_timeout (2 s), but
    the body falls below 1000 bytes/s, so the 2 s budget runs out after
    about 2 s: 421 4.4.2, a data-rate-too-low line, closed, nothing relayed."""
    relay = recording_relay(chunking=True)
    server = submitd(relay_config(relay, limits=RATE))
    mark = server.mark()
    c = open_session(server, certs)
    begin_transaction(c)
    if method == "DATA":
        assert_reply(c.cmd("DATA"), 354)
    else:
        c.send(b"BDAT 100000 LAST\r\n")
    with c:
        closed, elapsed, data = trickle(c, b"Subject: slow\r\n\r\n" + b"x" * 100, interval=0.3,
                                        limit=20)
    assert closed, "a trickled body kept the session open"
    assert data == f"421 4.4.2 {HOSTNAME} Data rate too low, closing connection\r\n".encode(), data
    # The budget started draining at the 354 (or the BDAT line), just before t0.
    assert 1.0 <= elapsed < 8, f"cut off after {elapsed:.1f}s with a 2 s budget"
    ev = server.wait_event("data-rate-too-low", after=mark)
    assert int(ev["bytes"]) < 100 and ev["min_data_rate"] == "1000", ev.line
    server.wait_event("disconnect", after=mark, reason="data-rate-too-low")
    relay.wait_settled()
    assert relay.messages == []
    serves_another_client(server, certs, relay)


def test_stalled_body_is_still_an_idle_timeout(submitd, recording_relay, certs):
    """A body that stops altogether gets the whole idle_timeout, as before."""
    relay = recording_relay()
    server = submitd(relay_config(relay, limits=RATE))
    mark = server.mark()
    c = open_session(server, certs)
    begin_transaction(c)
    assert_reply(c.cmd("DATA"), 354)
    t0 = time.monotonic()
    c.send(b"Subject: then nothing\r\n\r\n" + b"x" * 4000)
    with c:
        replies = c.replies_until_eof(timeout=WAIT)
    elapsed = time.monotonic() - t0
    assert codes(replies) == [(421, "4.4.2")], replies
    assert "Idle timeout" in replies[0].text, replies
    assert elapsed >= 1.8, f"cut off after {elapsed:.2f}s, idle_timeout is 2.0"
    server.wait_event("disconnect", after=mark, reason="timeout")
    assert server.events("data-rate-too-low", after=mark) == []
    serves_another_client(server, certs, relay)


@pytest.mark.parametrize("method", ["DATA", "BDAT"])
@pytest.mark.parametrize("rate,chunk,interval,count", [
    (1000, 1000, 0.2, 30),   # 5000 bytes/s for 6 s: above the rate, longer than the budget
    (0, 1, 0.3, 12),         # min_data_rate = 0: a byte every 0.3 s for 3.6 s is fine
], ids=["above-rate", "rate-off"])
def test_slow_body_above_the_rate_is_accepted(submitd, recording_relay, certs, method, rate, chunk,
                                              interval, count):
    relay = recording_relay(chunking=True)
    limits = dict(RATE, min_data_rate=rate)
    server = submitd(relay_config(relay, limits=limits))
    c = open_session(server, certs)
    begin_transaction(c)
    head = b"Subject: slow but steady\r\n\r\n"
    if chunk > 1:
        pieces = [b"%05d" % i + b"." * (chunk - 7) + b"\r\n" for i in range(count)]
    else:
        pieces = [b"y"] * count + [b"\r\n"]
    body = head + b"".join(pieces)
    pieces = [head] + pieces
    if method == "DATA":
        assert_reply(c.cmd("DATA"), 354)
    else:
        c.send(b"BDAT %d LAST\r\n" % len(body))
    t0 = time.monotonic()
    for i, p in enumerate(pieces):
        c.send(p)
        if i == len(pieces) - 1:
            break  # BDAT: the chunk is complete and answered
        readable, _, _ = select.select([c.sock], [], [], interval)
        assert not readable, f"the server answered mid-body: {c.sock.recv(4096)!r}"
    if method == "DATA":
        c.send(b".\r\n")
    assert_reply(c.read_reply(), 250, "2.0.0")
    assert time.monotonic() - t0 > 2.0 * 1.5, "the body took no longer than the idle budget"
    (m,) = relay.wait_messages(1)
    _, rest = split_received(m.content)
    assert rest == body
    c.close()
    serves_another_client(server, certs, relay)


# --------------------------------------------------------------------------
# Connection flood and running out of descriptors


@pytest.mark.parametrize("limit", ["max_connections", "max_connections_per_ip"])
def test_connection_flood_then_service_resumes(submitd, recording_relay, certs, limit):
    relay = recording_relay()
    limits = {"max_connections": 1000, "max_connections_per_ip": 1000}
    limits[limit] = 4
    server = submitd(relay_config(relay, limits=limits))
    mark = server.mark()
    holders = [server.connect() for _ in range(4)]
    for h in holders:
        assert_reply(h.greeting(), 220)
    flood = [server.connect() for _ in range(40)]
    for f in flood:
        replies = f.replies_until_eof(timeout=WAIT)
        assert codes(replies) == [(421, "4.7.0")], replies
        f.close()
    server.wait_event("disconnect", after=mark, reason="too-many-connections", count=40)
    for h in holders:
        h.close()
    server.wait_event("disconnect", after=mark, reason="client-disconnected", count=4)
    serves_another_client(server, certs, relay)


def wait_greeting_or_accept_failure(server, c, mark) -> bool:
    """True when `c` got its greeting; False once the server logged that an
    accept failed (the connection then waits in the listen queue)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        readable, _, _ = select.select([c.sock], [], [], 0.05)
        if readable:
            assert_reply(c.greeting(), 220)
            return True
        if server.events("accept-failed", after=mark):
            return False
    raise AssertionError("neither a greeting nor an accept-failed line")


def event_loops(pid: int) -> int:
    """How many epoll instances (one per Asio event loop) process `pid` has."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[eventpoll]"
        except FileNotFoundError:  # closed since the listing
            pass
    return n


def test_out_of_file_descriptors(submitd, recording_relay, certs):
    """With RLIMIT_NOFILE a few descriptors above what the idle server uses,
    connections are served until accept() fails with EMFILE; the server logs
    accept-failed, pauses (about 100 ms between tries instead of spinning),
    and once connections close it accepts the waiting one and serves again."""
    relay = recording_relay()
    server = submitd(relay_config(relay, server={"workers": 1},
                                  limits={"max_connections": 1000,
                                          "max_connections_per_ip": 1000}))
    pid = server.proc.pid
    server.wait_event("relay-capabilities")
    relay.wait_connections(1, closed=True)  # the start-up probe's socket is closed
    # The probe has an event loop of its own (an epoll, an eventfd, a timerfd),
    # destroyed only after its socket closed: count once the worker's is the
    # only one left.
    wait_until(lambda: event_loops(pid) == 1, what="the start-up probe's event loop to close")
    in_use = len(os.listdir(f"/proc/{pid}/fd"))
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 6, hard))
    mark = server.mark()
    held, waiting = [], None
    try:
        for _ in range(64):
            c = server.connect()
            if wait_greeting_or_accept_failure(server, c, mark):
                held.append(c)
            else:
                waiting = c
                break
        assert waiting is not None, "never ran out of descriptors"
        assert 1 <= len(held) <= 6, len(held)
        first = server.wait_event("accept-failed", after=mark)
        assert first["reason"] == "Too many open files", first.line
        # Not a busy loop: five failures take at least four pauses.
        fifth = server.wait_event("accept-failed", after=mark, count=5)
        assert parse_ts(fifth.timestamp) - parse_ts(first.timestamp) >= 0.35, (first.line, fifth.line)
        assert waiting.nothing_pending(0.05) == b""
        for h in held:
            h.close()
        held = []
        assert_reply(waiting.greeting(), 220)  # accepted once descriptors were free
        waiting.ehlo()
        assert_reply(waiting.cmd("QUIT"), 221, "2.0.0")
    finally:
        for h in held:
            h.close()
        if waiting is not None:
            waiting.close()
    serves_another_client(server, certs, relay)


def parse_ts(ts: str) -> float:
    """Seconds since midnight of a log timestamp (2026-11-29T07:25:05.268Z)."""
    m = re.match(r"^\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d(?:\.\d+)?)Z$", ts)
    assert m, ts
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
