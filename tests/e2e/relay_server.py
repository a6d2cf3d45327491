"""A recording relay MTA for the end-to-end tests, built on aiosmtpd.

    relay = RecordingRelay(chunking=True, rcpt_replies={"bad@example.org": "550 5.1.1 no"})
    relay.start()                       # listens on 127.0.0.1:<ephemeral>, see relay.port
    ...
    msg = relay.wait_messages(1)[0]     # waits by condition variable, never by sleeping
    assert msg.content == expected_bytes
    relay.stop()

What the test chooses (constructor keywords, or relay.configure(...) later; the
relay thread reads them under a lock at each step):

- capabilities: pipelining, eightbitmime, dsn, smtputf8, chunking (BDAT is
  implemented here: aiosmtpd 1.4 has none), size (None: no SIZE keyword),
  xclient (Postfix XCLIENT, recorded), auth ({user: password}: AUTH PLAIN,
  recorded with its authorization id), tls ("none" | "starttls" | "implicit",
  with tls_cert/tls_key), enhanced (False: replies without RFC 3463 codes),
  extra_caps (more EHLO lines).
- faults: greeting (a non-220 greeting, then the connection is closed),
  ehlo_reply, xclient_reply, mail_reply, rcpt_replies ({address: reply}) or
  rcpt_fail_index ({index within the transaction: reply}), data_reply (instead
  of 354), eod_reply (the final reply after the content; the message is then
  not held), drop_after (close the connection after that many content bytes),
  drop_at (close without replying at "mail" | "rcpt" | "data" | "eod"),
  stall_at ("greeting" | "ehlo" | "mail" | "rcpt" | "data" | "eod": no reply
  until release() or stall_seconds), lenient_eod (also end the content at a
  bare-LF/bare-CR terminator, as vulnerable MTAs do: a smuggled second message
  would then show up as a second transaction).
- fault_times: how many times the faults fire in all (None: always); each
  fired fault counts one, so fault_times=1 makes only the first attempt fail.

Records (read them with the lock held via the properties, which copy):
connections (Conn), transactions (Txn: every transaction that reached MAIL),
messages (the accepted ones: what the relay "holds"). Every change notifies
the condition variable that wait_* use.

A closed port for "refuses connections": closed_port().
"""

from __future__ import annotations

import asyncio
import base64
import collections
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

STAGES = ("greeting", "ehlo", "mail", "rcpt", "data", "eod")
TERMINATOR = b"\r\n.\r\n"
# What lenient (vulnerable) receivers take for the end of the content, checked
# together with the real one; the earliest match wins, the longest at a tie.
LENIENT_TERMINATORS = (b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r",
                       b"\r.\n", b"\n.\r")


def closed_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port() -> int:
    """A port that was free a moment ago (for programs that need a number)."""
    return closed_port()


def unstuff(wire: bytes) -> bytes:
    """Removes the transparency dot at each line start (RFC 5321 4.5.2)."""
    return re.sub(rb"(^|\r\n)\.", rb"\1", wire)


def has_bare_cr_or_lf(data: bytes) -> bool:
    return re.search(rb"\r(?!\n)|(?<!\r)\n", data) is not None


def xtext_decode(s: str) -> str:
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


@dataclass
class Txn:
    conn: int
    mail_from: str
    mail_params: dict
    tls: str | None = None
    rcpts: list = field(default_factory=list)            # accepted
    rcpt_params: list = field(default_factory=list)      # dicts, parallel to rcpts
    refused: list = field(default_factory=list)          # (address, reply)
    method: str | None = None                            # "DATA" | "BDAT"
    wire: bytes = b""                                    # as on the wire (stuffed for DATA)
    content: bytes = b""                                 # after dot-unstuffing / BDAT joining
    received: int = 0                                    # DATA bytes arrived so far (on the wire)
    chunks: list = field(default_factory=list)           # BDAT chunk sizes
    state: str = "open"  # open | accepted | rejected | dropped | aborted | reset
    reply: str | None = None                             # the final reply sent

    @property
    def headers(self) -> bytes:
        return self.content.split(b"\r\n\r\n", 1)[0]


@dataclass
class Conn:
    id: int
    peer: tuple
    ehlo: list = field(default_factory=list)
    xclient: list = field(default_factory=list)          # dicts of attributes
    auth: list = field(default_factory=list)             # (authzid, authcid, password, ok)
    commands: list = field(default_factory=list)         # verbs in order
    tls: str | None = None
    pipelined_without_cap: int = 0
    closed: bool = False


class _Stalled(Exception):
    pass


class RelaySMTP(SMTP):
    """One connection. Replaces aiosmtpd's EHLO, MAIL, RCPT, DATA and AUTH with
    versions that the test configures, and adds BDAT and XCLIENT."""

    command_size_limit = 4096
    command_size_limits = collections.defaultdict(lambda: 4096)

    def __init__(self, relay: "RecordingRelay", **kw):
        super().__init__(_NoHandler(), **kw)
        self.relay = relay
        self.conn: Conn | None = None
        self.txn: Txn | None = None
        self.rcpt_index = 0
        # Record every verb, and check for pipelining when it is not offered.
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._recorded(name, method)

    def _recorded(self, name, method):
        async def wrapper(arg):
            with self.relay.cond:
                self.conn.commands.append(name)
                if (not self.relay.b["pipelining"] and name not in ("DATA", "BDAT")
                        and len(self._reader._buffer) > 0):
                    self.conn.pipelined_without_cap += 1
                self.relay.cond.notify_all()
            return await method(arg)
        return wrapper

    # -- helpers ------------------------------------------------------------
    def b(self, key):
        with self.relay.cond:
            return self.relay.b[key]

    def r(self, code_enh_text: str) -> str:
        """Strips the enhanced code when the relay is configured without them."""
        if self.b("enhanced"):
            return code_enh_text
        return re.sub(r"^(\d{3}[ -])\d\.\d{1,3}\.\d{1,3} ", r"\1", code_enh_text)

    async def stall(self, stage: str):
        if self.relay._fault("stall_at", stage):
            with self.relay.cond:
                self.relay.stalls.append((self.conn.id, stage))
                self.relay.cond.notify_all()
            try:
                await asyncio.wait_for(self.relay._release.wait(), self.b("stall_seconds"))
            except asyncio.TimeoutError:
                pass

    def drop(self, stage: str) -> bool:
        if self.relay._fault("drop_at", stage):
            self.hangup()
            return True
        return False

    def hangup(self):
        """Closes the connection and stops reading what is already buffered."""
        self.transport.close()
        self._reader._buffer.clear()
        self.transport = None  # ends aiosmtpd's command loop
        self._handler_coroutine.cancel()

    def _tls_version(self):
        obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        return obj.version() if obj is not None else None

    # -- connection -----------------------------------------------------------
    def connection_made(self, transport):
        first = self.conn is None
        super().connection_made(transport)
        if first:
            self.conn = self.relay._new_conn(transport.get_extra_info("peername"))
        with self.relay.cond:
            self.conn.tls = self._tls_version()
            self.relay.cond.notify_all()

    def connection_lost(self, error):
        with self.relay.cond:
            if self.conn is not None:
                self.conn.closed = True
            if self.txn is not None and self.txn.state == "open":
                self.txn.state = "aborted"
            self.relay.cond.notify_all()
        super().connection_lost(error)

    async def _handle_client(self):
        await self.stall("greeting")
        greeting = self.relay._fault("greeting")
        if greeting:
            await self.push(greeting)
            self.hangup()
            return
        await super()._handle_client()

    def _set_rset_state(self):
        super()._set_rset_state()
        if getattr(self, "txn", None) is not None:
            with self.relay.cond:
                if self.txn.state == "open":
                    self.txn.state = "reset"
                self.relay.cond.notify_all()
            self.txn = None

    # -- EHLO ---------------------------------------------------------------
    async def smtp_EHLO(self, hostname: str):
        if not hostname:
            return await self.push("501 5.5.4 Syntax: EHLO hostname")
        await self.stall("ehlo")
        reply = self.relay._fault("ehlo_reply")
        if reply:
            return await self.push(reply)
        self._set_rset_state()
        self.session.extended_smtp = True
        self.session.host_name = hostname
        with self.relay.cond:
            self.conn.ehlo.append(hostname)
            self.relay.cond.notify_all()
            b = dict(self.relay.b)
        caps = []
        if b["pipelining"]:
            caps.append("PIPELINING")
        if b["size"] is not None:
            caps.append(f"SIZE {b['size']}" if b["size"] else "SIZE")
        if b["eightbitmime"]:
            caps.append("8BITMIME")
        if b["dsn"]:
            caps.append("DSN")
        if b["smtputf8"]:
            caps.append("SMTPUTF8")
        if b["chunking"]:
            caps.append("CHUNKING")
        if b["enhanced"]:
            caps.append("ENHANCEDSTATUSCODES")
        if self.tls_context and not self._tls_protocol:
            caps.append("STARTTLS")
        if b["auth"]:
            caps.append("AUTH PLAIN")
        if b["xclient"]:
            caps.append("XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT")
        caps.extend(b["extra_caps"])
        lines = [self.hostname] + caps
        for i, line in enumerate(lines):
            await self.push(f"250{'-' if i < len(lines) - 1 else ' '}{line}")

    # -- XCLIENT ------------------------------------------------------------
    async def smtp_XCLIENT(self, arg: str):
        if not self.b("xclient"):
            return await self.push('500 5.5.2 Error: command "XCLIENT" not recognized')
        reply = self.relay._fault("xclient_reply")
        if reply:
            return await self.push(reply)
        attrs = {}
        for item in (arg or "").split():
            k, _, v = item.partition("=")
            attrs[k.upper()] = xtext_decode(v)
        with self.relay.cond:
            self.conn.xclient.append(attrs)
            self.relay.cond.notify_all()
        self._set_rset_state()
        self.session.extended_smtp = False
        self.session.host_name = None  # as Postfix: EHLO again after XCLIENT
        await self.push(f"220 {self.hostname} ESMTP recording relay")

    # -- AUTH PLAIN -----------------------------------------------------------
    async def smtp_AUTH(self, arg: str):
        creds = self.b("auth")
        if not creds:
            return await self.push('500 5.5.2 Error: command "AUTH" not recognized')
        if self.session.authenticated:
            return await self.push(self.r("503 5.5.1 Already authenticated"))
        args = (arg or "").split()
        if not args or args[0].upper() != "PLAIN":
            return await self.push(self.r("504 5.5.4 Unrecognized authentication type"))
        if len(args) > 1:
            token = args[1]
        else:
            await self.push("334 ")
            token = (await self._reader.readuntil()).rstrip(b"\r\n").decode()
        try:
            authzid, authcid, password = base64.b64decode(token, validate=True).decode().split("\0")
        except Exception:
            return await self.push(self.r("501 5.5.2 Can't decode base64"))
        ok = creds.get(authcid) == password
        with self.relay.cond:
            self.conn.auth.append((authzid, authcid, password, ok))
            self.relay.cond.notify_all()
        if ok:
            self.session.authenticated = True
            self.session.login_data = authzid or authcid
            await self.push(self.r("235 2.7.0 Authentication successful"))
        else:
            await self.push(self.r("535 5.7.8 Authentication credentials invalid"))

    # -- MAIL / RCPT ----------------------------------------------------------
    def _params(self, text: str) -> dict | None:
        out = {}
        for item in text.split():
            k, eq, v = item.partition("=")
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", k):
                return None
            out[k.upper()] = v if eq else True
        return out

    async def smtp_MAIL(self, arg: str):
        if not self.session.host_name:
            return await self.push(self.r("503 5.5.1 Error: send HELO first"))
        if self.b("auth_required") and not self.session.authenticated:
            return await self.push(self.r("530 5.7.0 Authentication required"))
        m = re.fullmatch(r"(?i)FROM:<([^<>]*)>(?: +(.*))?", arg or "")
        if not m:
            return await self.push(self.r("501 5.5.4 Syntax: MAIL FROM:<address>"))
        if self.txn is not None:
            return await self.push(self.r("503 5.5.1 Error: nested MAIL command"))
        params = self._params(m.group(2) or "")
        if params is None:
            return await self.push(self.r("501 5.5.4 Bad parameter syntax"))
        with self.relay.cond:
            b = dict(self.relay.b)
        allowed = set()
        if b["size"] is not None:
            allowed.add("SIZE")
        if b["eightbitmime"]:
            allowed.add("BODY")
        if b["smtputf8"]:
            allowed.add("SMTPUTF8")
        if b["dsn"]:
            allowed |= {"RET", "ENVID"}
        if b["auth"]:
            allowed.add("AUTH")
        unknown = sorted(set(params) - allowed)
        if unknown:
            return await self.push(self.r(f"555 5.5.4 Unsupported option: {unknown[0]}"))
        body = params.get("BODY")
        if body is not None and str(body).upper() not in ("7BIT", "8BITMIME") and not (
                b["chunking"] and str(body).upper() == "BINARYMIME"):
            return await self.push(self.r("501 5.5.4 Bad BODY value"))
        if b["size"] and "SIZE" in params and str(params["SIZE"]).isdigit() \
                and int(params["SIZE"]) > b["size"]:
            return await self.push(self.r("552 5.3.4 Message size exceeds fixed limit"))
        await self.stall("mail")
        if self.drop("mail"):
            return
        reply = self.relay._fault("mail_reply")
        if reply:
            return await self.push(reply)
        self.rcpt_index = 0
        txn = Txn(conn=self.conn.id, mail_from=m.group(1), mail_params=params,
                  tls=self._tls_version())
        self.txn = txn
        self.envelope.mail_from = m.group(1)
        self.relay._add_txn(txn)
        await self.push(self.r("250 2.1.0 Ok"))

    async def smtp_RCPT(self, arg: str):
        if self.txn is None:
            return await self.push(self.r("503 5.5.1 Error: need MAIL command"))
        m = re.fullmatch(r"(?i)TO:<([^<>]*)>(?: +(.*))?", arg or "")
        if not m or not m.group(1):
            return await self.push(self.r("501 5.5.4 Syntax: RCPT TO:<address>"))
        params = self._params(m.group(2) or "")
        if params is None:
            return await self.push(self.r("501 5.5.4 Bad parameter syntax"))
        unknown = sorted(set(params) - ({"NOTIFY", "ORCPT"} if self.b("dsn") else set()))
        if unknown:
            return await self.push(self.r(f"555 5.5.4 Unsupported option: {unknown[0]}"))
        index = self.rcpt_index
        self.rcpt_index += 1
        await self.stall("rcpt")
        if self.drop("rcpt"):
            return
        address = m.group(1)
        reply = None
        with self.relay.cond:
            by_addr = self.relay.b["rcpt_replies"].get(address.lower())
            by_index = self.relay.b["rcpt_fail_index"].get(index)
        if by_addr or by_index:
            reply = self.relay._fault_value(by_addr or by_index)
        if reply:
            with self.relay.cond:
                self.txn.refused.append((address, reply))
                self.relay.cond.notify_all()
            return await self.push(reply)
        with self.relay.cond:
            self.txn.rcpts.append(address)
            self.txn.rcpt_params.append(params)
            self.relay.cond.notify_all()
        self.envelope.rcpt_tos.append(address)
        await self.push(self.r("250 2.1.5 Ok"))

    # -- DATA / BDAT ------------------------------------------------------------
    async def _finish(self, size: int):
        """Answers the end of the content: the fault, or 250 and the message is held."""
        txn = self.txn
        b_size = self.b("size")
        await self.stall("eod")
        if self.drop("eod"):
            with self.relay.cond:
                txn.state = "dropped"
                self.relay.cond.notify_all()
            return
        reply = self.relay._fault("eod_reply")
        if reply is None and b_size and size > b_size:
            reply = self.r("552 5.3.4 Message size exceeds fixed limit")
        if reply is None:
            reply = self.r("250 2.0.0 Ok: queued as R%d" % len(self.relay._transactions))
        with self.relay.cond:
            txn.reply = reply
            txn.state = "accepted" if reply.startswith("2") else "rejected"
            self.relay.cond.notify_all()
        self.txn = None
        self._set_post_data_state()
        await self.push(reply)

    async def smtp_DATA(self, arg: str):
        if self.txn is None:
            return await self.push(self.r("503 5.5.1 Error: need MAIL command"))
        if arg:
            return await self.push(self.r("501 5.5.4 Syntax: DATA"))
        if not self.txn.rcpts:
            return await self.push(self.r("554 5.5.1 Error: no valid recipients"))
        if self.txn.method == "BDAT":
            return await self.push(self.r("503 5.5.1 Error: DATA after BDAT"))
        await self.stall("data")
        if self.drop("data"):
            return
        reply = self.relay._fault("data_reply")
        if reply:
            return await self.push(reply)
        txn = self.txn
        txn.method = "DATA"
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        lenient = self.b("lenient_eod")
        drop_after = self.relay._fault("drop_after")
        buf = bytearray(b"\r\n")  # the CRLF before the content: it starts a line
        scan = 0
        while True:
            end, tlen = self._find_end(buf, scan, lenient)
            if end >= 0:
                break
            scan = max(0, len(buf) - 8)
            want = 65536
            if drop_after is not None:
                want = min(want, drop_after - (len(buf) - 2))
                if want <= 0:
                    with self.relay.cond:
                        txn.wire = bytes(buf[2:])
                        txn.state = "dropped"
                        self.relay.cond.notify_all()
                    self.hangup()
                    return
            chunk = await self._reader.read(want)
            if not chunk:
                with self.relay.cond:
                    txn.wire = bytes(buf[2:])
                    txn.state = "aborted"
                    self.relay.cond.notify_all()
                self.hangup()
                return
            buf += chunk
            with self.relay.cond:
                txn.received = len(buf) - 2
                self.relay.cond.notify_all()
        wire = bytes(buf[2:end + 2])
        rest = bytes(buf[end + tlen:])
        if rest:
            self._reader._buffer[0:0] = rest  # pipelined commands after the content
        with self.relay.cond:
            txn.wire = wire
            txn.content = unstuff(wire)
            self.relay.cond.notify_all()
        await self._finish(len(txn.content))

    @staticmethod
    def _find_end(buf: bytearray, start: int, lenient: bool) -> tuple[int, int]:
        if not lenient:
            i = buf.find(TERMINATOR, start)
            return i, len(TERMINATOR)
        best = (-1, 0)
        for t in LENIENT_TERMINATORS:
            i = buf.find(t, start)
            if i >= 0 and (best[0] < 0 or i < best[0] or (i == best[0] and len(t) > best[1])):
                best = (i, len(t))
        return best

    async def smtp_BDAT(self, arg: str):
        if not self.b("chunking"):
            return await self.push('500 5.5.2 Error: command "BDAT" not recognized')
        m = re.fullmatch(r"(?i)(\d+)( +LAST)?", (arg or "").strip())
        if not m:
            return await self.push(self.r("501 5.5.4 Syntax: BDAT size [LAST]"))
        size, last = int(m.group(1)), bool(m.group(2))
        txn = self.txn
        # The chunk follows the command whatever we answer: read it first.
        drop_after = self.relay._fault("drop_after") if (txn and txn.method is None) else None
        data = bytearray()
        while len(data) < size:
            want = size - len(data)
            if drop_after is not None and txn is not None:
                want = min(want, drop_after - len(txn.content) - len(data))
                if want <= 0:
                    with self.relay.cond:
                        txn.content += bytes(data)
                        txn.wire = txn.content
                        txn.state = "dropped"
                        self.relay.cond.notify_all()
                    self.hangup()
                    return
            try:
                chunk = await self._reader.readexactly(want) if want < 65536 else \
                    await self._reader.read(65536)
            except asyncio.IncompleteReadError as e:
                chunk = e.partial
            if not chunk:
                if txn is not None:
                    with self.relay.cond:
                        txn.content += bytes(data)
                        txn.state = "aborted"
                        self.relay.cond.notify_all()
                self.hangup()
                return
            data += chunk
        if txn is None:
            return await self.push(self.r("503 5.5.1 Error: need MAIL command"))
        if not txn.rcpts:
            return await self.push(self.r("554 5.5.1 Error: no valid recipients"))
        if txn.method == "DATA":
            return await self.push(self.r("503 5.5.1 Error: BDAT after DATA"))
        if txn.method is None:
            await self.stall("data")
            if self.drop("data"):
                return
            reply = self.relay._fault("data_reply")
            if reply:
                self._set_rset_state()
                return await self.push(reply)
        with self.relay.cond:
            txn.method = "BDAT"
            txn.chunks.append(size)
            txn.content += bytes(data)
            txn.wire = txn.content
            self.relay.cond.notify_all()
        if last:
            await self._finish(len(txn.content))
        else:
            await self.push(self.r(f"250 2.0.0 {size} octets received"))


class _NoHandler:
    pass


class _Controller(Controller):
    """aiosmtpd's threaded controller, bound to 127.0.0.1 port 0."""

    def __init__(self, relay: "RecordingRelay", **kw):
        self.relay = relay
        super().__init__(_NoHandler(), hostname="127.0.0.1", port=0, **kw)

    def factory(self):
        return RelaySMTP(self.relay, **self.SMTP_kwargs)

    async def _bind(self):
        srv = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0,
                                            ssl=self.ssl_context)
        self.port = srv.sockets[0].getsockname()[1]
        self.relay._release = asyncio.Event()
        return srv

    def _create_server(self):
        return self._bind()


class RecordingRelay:
    DEFAULTS = dict(
        hostname="relay.test",
        pipelining=True, eightbitmime=True, dsn=True, smtputf8=True, chunking=False,
        size=None, xclient=False, auth=None, auth_required=False, enhanced=True,
        extra_caps=(),
        tls="none", tls_cert=None, tls_key=None,
        greeting=None, ehlo_reply=None, xclient_reply=None, mail_reply=None,
        rcpt_replies={}, rcpt_fail_index={}, data_reply=None, eod_reply=None,
        drop_after=None, drop_at=None, stall_at=None, stall_seconds=3600.0,
        lenient_eod=False, fault_times=None,
    )

    def __init__(self, **behaviour):
        self.cond = threading.Condition()
        self.b = dict(self.DEFAULTS)
        self.configure(**behaviour)
        self._connections: list[Conn] = []
        self._transactions: list[Txn] = []
        self.stalls: list = []
        self.faults_fired = 0
        self._controller: _Controller | None = None
        self._release: asyncio.Event | None = None
        self.port: int | None = None
        self._armed = False  # no faults for aiosmtpd's start-up probe connection

    # -- control ----------------------------------------------------------------
    def configure(self, **behaviour):
        unknown = set(behaviour) - set(self.DEFAULTS)
        if unknown:
            raise TypeError(f"unknown relay behaviour: {sorted(unknown)}")
        with self.cond:
            for k, v in behaviour.items():
                if k == "rcpt_replies":
                    v = {a.lower(): r for a, r in (v or {}).items()}
                if k == "rcpt_fail_index":
                    v = dict(v or {})
                if k in ("stall_at", "drop_at") and v is not None:
                    assert v in STAGES, v
                self.b[k] = v
            if "fault_times" in behaviour:
                self.faults_fired = 0
            self.cond.notify_all()
        if behaviour.get("stall_at") and self._running():
            self._controller.loop.call_soon_threadsafe(self._release.clear)
        return self

    def start(self) -> "RecordingRelay":
        kw = dict(server_hostname=self.b["hostname"], ident="ESMTP recording relay",
                  data_size_limit=None, enable_SMTPUTF8=True, timeout=600,
                  auth_require_tls=False)
        ctx = None
        if self.b["tls"] in ("starttls", "implicit"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.b["tls_cert"]), str(self.b["tls_key"]))
            if self.b["tls"] == "starttls":
                kw["tls_context"] = ctx
            else:
                kw["ssl_context"] = ctx
        self._controller = _Controller(self, **kw)
        self._controller.start()
        self.port = self._controller.port
        with self.cond:  # forget the controller's start-up probe
            self._connections.clear()
            self._armed = True
        return self

    def stop(self):
        if self._controller is not None:
            self.release()
            self._controller.stop()
            self._controller = None

    def _running(self) -> bool:
        return getattr(self, "_controller", None) is not None and self._release is not None

    def release(self):
        """Ends every current and future stall (until configure(stall_at=...))."""
        with self.cond:
            self.b["stall_at"] = None
        if self._controller is not None and self._release is not None:
            self._controller.loop.call_soon_threadsafe(self._release.set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- called on the relay thread -------------------------------------------
    def _fault_value(self, value):
        with self.cond:
            if value is None or not self._armed:
                return None
            if self.b["fault_times"] is not None and self.faults_fired >= self.b["fault_times"]:
                return None
            self.faults_fired += 1
            self.cond.notify_all()
            return value

    def _fault(self, key, stage=None):
        """The configured fault `key` if it fires now (for stall_at/drop_at:
        whether it names `stage`)."""
        with self.cond:
            value = self.b[key]
            if stage is not None:
                value = True if value == stage else None
            return self._fault_value(value)

    def _new_conn(self, peer) -> Conn:
        with self.cond:
            c = Conn(id=len(self._connections) + 1, peer=peer)
            self._connections.append(c)
            self.cond.notify_all()
            return c

    def _add_txn(self, txn: Txn):
        with self.cond:
            self._transactions.append(txn)
            self.cond.notify_all()

    # -- reading (test thread) ----------------------------------------------------
    @property
    def connections(self) -> list[Conn]:
        with self.cond:
            return list(self._connections)

    @property
    def transactions(self) -> list[Txn]:
        with self.cond:
            return list(self._transactions)

    @property
    def messages(self) -> list[Txn]:
        """What the relay holds: transactions it answered 2xx at their end."""
        with self.cond:
            return [t for t in self._transactions if t.state == "accepted"]

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "condition"):
        """Waits until predicate() (called with the lock held) is truthy."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"relay: timed out after {timeout}s waiting for {what}; "
                        f"transactions={self._summary()}")
                self.cond.wait(left)

    def _summary(self):
        return [(t.conn, t.mail_from, t.rcpts, t.method, len(t.content), t.state)
                for t in self._transactions]

    def wait_messages(self, n: int = 1, timeout: float = 20.0) -> list[Txn]:
        return self.wait_for(
            lambda: (lambda m: m if len(m) >= n else None)(
                [t for t in self._transactions if t.state == "accepted"]),
            timeout, f"{n} accepted message(s)")

    def wait_transactions(self, n: int = 1, timeout: float = 20.0, state: str | None = None):
        def pred():
            ts = [t for t in self._transactions if state is None or t.state == state]
            return ts if len(ts) >= n else None
        return self.wait_for(pred, timeout, f"{n} transaction(s) in state {state}")

    def wait_settled(self, timeout: float = 20.0) -> list[Txn]:
        """Waits until no transaction is still open (each ended one way or another)."""
        return self.wait_for(
            lambda: list(self._transactions) if all(t.state != "open" for t in self._transactions)
            else None, timeout, "every transaction to end") if self._transactions else []

    def wait_connections(self, n: int = 1, timeout: float = 20.0, closed: bool = False):
        return self.wait_for(
            lambda: (lambda cs: cs if len(cs) >= n else None)(
                [c for c in self._connections if c.closed or not closed]),
            timeout, f"{n} {'closed ' if closed else ''}connection(s)")

    def wait_stall(self, n: int = 1, timeout: float = 20.0):
        return self.wait_for(lambda: self.stalls if len(self.stalls) >= n else None,
                             timeout, f"{n} stall(s)")

    def wait_all_closed(self, timeout: float = 20.0):
        return self.wait_for(lambda: all(c.closed for c in self._connections) or None,
                             timeout, "every relay connection closed")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
