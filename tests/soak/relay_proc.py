#!/usr/bin/python3
"""The soak test's relay: tests/e2e's RecordingRelay in a process of its own,
so that tests/soak/run can kill it (SIGKILL) and start it again on the same
port.

    relay_proc.py --port PORT --dir DIR --generation N [--no-chunking]

What it holds survives it: each message it accepts is written to
DIR/<generation>-<n>.msg (a JSON line with the envelope, then the content as
received, after dot-unstuffing) and renamed into place *before* the 250 is
sent, as a real MTA commits to its queue before answering; a kill between the
two leaves a message that the relay holds but whose sender never heard 250.

Control: one JSON object per line on standard input, {"configure": {...}}
(RecordingRelay.configure's keywords, and reply_delay: seconds between the
commit of an accepted message and its 250) or {"release": true}; each is answered
with "ok" or "error ..." on standard output. "ready PORT" is printed once
listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from relay_server import RecordingRelay, RelaySMTP, _Controller  # noqa: E402


class PersistingSMTP(RelaySMTP):
    """Writes an accepted message to disk before its 250 goes out."""

    _finishing = None

    async def _finish(self, size: int):
        self._finishing = self.txn
        try:
            await super()._finish(size)
        finally:
            self._finishing = None

    async def push(self, status: str):
        txn = self._finishing
        if txn is not None and txn.state != "open":
            # _finish has decided (accepted or rejected) and is about to reply.
            self._finishing = None
            if txn.state == "accepted":
                self.relay.persist(txn)
                delay = self.relay._fault("reply_delay")
                if delay:
                    # Committed, but the reply is late (or never comes, if the
                    # client gives up and closes: that cancels this sleep).
                    await asyncio.sleep(delay)
        return await super().push(status)


class FixedPortController(_Controller):
    def __init__(self, relay: "SoakRelay", port: int, **kw):
        self.fixed_port = port
        super().__init__(relay, **kw)

    def factory(self):
        return PersistingSMTP(self.relay, **self.SMTP_kwargs)

    async def _bind(self):
        srv = await self.loop.create_server(self._factory_invoker, host=self.hostname,
                                            port=self.fixed_port, reuse_address=True)
        self.port = srv.sockets[0].getsockname()[1]
        self.relay._release = asyncio.Event()
        return srv


class SoakRelay(RecordingRelay):
    # reply_delay: seconds between committing an accepted message and its 250
    # (a fault, counted by fault_times like the others). A stall_at "eod"
    # instead comes before the commit: a client that gives up then leaves
    # nothing behind, as aiosmtpd cancels the transaction when it closes.
    DEFAULTS = dict(RecordingRelay.DEFAULTS, reply_delay=None)

    def __init__(self, port: int, directory: Path, generation: int, **behaviour):
        super().__init__(**behaviour)
        self.fixed_port = port
        self.dir = directory
        self.generation = generation
        self.seq = 0

    def start(self):
        kw = dict(server_hostname=self.b["hostname"], ident="ESMTP soak relay",
                  data_size_limit=None, enable_SMTPUTF8=True, timeout=600,
                  auth_require_tls=False)
        self._controller = FixedPortController(self, self.fixed_port, **kw)
        self._controller.start()
        self.port = self._controller.port
        with self.cond:
            self._connections.clear()
            self._armed = True
        return self

    def persist(self, txn):
        with self.cond:
            self.seq += 1
            n = self.seq
        name = f"{self.generation:03d}-{n:07d}.msg"
        meta = {"conn": txn.conn, "from": txn.mail_from, "rcpts": txn.rcpts,
                "method": txn.method, "chunks": len(txn.chunks), "size": len(txn.content),
                "generation": self.generation, "time": time.time()}
        tmp = self.dir / (name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(json.dumps(meta).encode() + b"\n")
            f.write(txn.content)
        os.rename(tmp, self.dir / name)
        # The content is on disk: do not keep it in memory as well.
        txn.content = b""
        txn.wire = b""

    def prune(self):
        """Forgets finished transactions and closed connections (a soak runs
        tens of thousands of them)."""
        with self.cond:
            self._transactions = [t for t in self._transactions if t.state == "open"]
            self._connections = [c for c in self._connections if not c.closed]
            self.stalls = self.stalls[-100:]


def control_loop(relay: SoakRelay):
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
            if "configure" in msg:
                relay.configure(**msg["configure"])
            if msg.get("release"):
                relay.release()
            print("ok", flush=True)
        except Exception as e:  # an error in a command must not end the relay
            print(f"error {type(e).__name__}: {e}", flush=True)
    # The parent closed our stdin: it is gone, so are we.
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--generation", type=int, default=0)
    ap.add_argument("--no-chunking", action="store_true", help="do not offer CHUNKING (BDAT)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    relay = SoakRelay(args.port, args.dir, args.generation, chunking=not args.no_chunking, size=0)
    for attempt in range(50):
        try:
            relay.start()
            break
        except Exception as e:  # the port may still be in use for a moment after a kill
            if attempt == 49:
                print(f"error cannot listen on {args.port}: {e}", flush=True)
                sys.exit(1)
            relay._controller = None
            time.sleep(0.1)
    print(f"ready {relay.port}", flush=True)
    threading.Thread(target=control_loop, args=(relay,), daemon=True).start()
    while True:
        time.sleep(2)
        relay.prune()


if __name__ == "__main__":
    main()
