"""Runs every dialogs/*.dialog file (format: dialogs/README.md) against a
fresh submitd."""

import json
import re
import ssl
from pathlib import Path

import pytest

from conftest import (HOSTNAME, PASSWORD, USER, WAIT, b64, plain_ir,
                      tls_client_context)

DIALOGS = sorted((Path(__file__).parent / "dialogs").glob("*.dialog"))


def substitute(text: str) -> str:
    text = re.sub(r"\{X\*(\d+)\}", lambda m: "x" * int(m.group(1)), text)
    return (text.replace("{PLAIN}", plain_ir())
                .replace("{PLAIN_BAD}", plain_ir(USER, "not-" + PASSWORD))
                .replace("{B64_USER}", b64(USER))
                .replace("{B64_PASS}", b64(PASSWORD)))


def unescape(text: str) -> bytes:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append({"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out).encode()


class Script:
    def __init__(self, path: Path):
        self.path = path
        self.listener = "submission"
        self.config: dict = {}
        self.steps: list[tuple[int, str, str]] = []
        for n, raw in enumerate(path.read_text().splitlines(), 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("@listener "):
                self.listener = line.split(None, 1)[1].strip()
            elif line.startswith("@config "):
                self.config = json.loads(line.split(None, 1)[1])
            elif line in ("tls", "eof"):
                self.steps.append((n, line, ""))
            else:
                m = re.match(r"^(c:|c=|s:|s\*|!s) ?(.*)$", line)
                if not m:
                    raise ValueError(f"{path.name}:{n}: cannot parse {line!r}")
                self.steps.append((n, m.group(1), m.group(2)))


class Pushback:
    """Reads reply lines with one line of look-ahead (for s*)."""

    def __init__(self, conn):
        self.conn = conn
        self.pending: str | None = None
        self.eof = False

    def next(self) -> str | None:
        if self.pending is not None:
            line, self.pending = self.pending, None
            return line
        if self.eof:
            return None
        try:
            return self.conn.read_line(WAIT)
        except (EOFError, ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            self.eof = True
            return None

    def push(self, line: str):
        self.pending = line


@pytest.mark.parametrize("path", DIALOGS, ids=[p.stem for p in DIALOGS])
def test_dialog(submitd, certs, path):
    script = Script(path)
    s = submitd(script.config)
    tls = tls_client_context(certs.bundle) if script.listener == "submissions" else None
    conn = s.connect(script.listener, tls=tls)
    reader = Pushback(conn)
    transcript: list[str] = []

    def fail(n, why):
        pytest.fail(f"{path.name}:{n}: {why}\ntranscript:\n" + "\n".join(transcript))

    with conn:
        try:
            run_steps(script, conn, reader, certs, fail, transcript)
        except TimeoutError as e:
            pytest.fail(f"{path.name}: {e}\ntranscript:\n" + "\n".join(transcript))


def run_steps(script, conn, reader, certs, fail, transcript):
    seen: list[str] = []
    if True:
        for n, op, arg in script.steps:
            if op in ("c:", "c="):
                data = substitute(arg).encode() + b"\r\n" if op == "c:" else unescape(substitute(arg))
                transcript.append(f"C: {data!r}")
                seen = []
                try:
                    conn.send(data)
                except (BrokenPipeError, ConnectionResetError) as e:
                    fail(n, f"send failed: {e!r}")
            elif op == "s:":
                line = reader.next()
                if line is None:
                    fail(n, f"connection closed, expected /{arg}/")
                transcript.append(f"S: {line}")
                seen.append(line)
                if not re.fullmatch(arg, line):
                    fail(n, f"got {line!r}, expected /{arg}/")
            elif op == "s*":
                while True:
                    line = reader.next()
                    if line is None:
                        break
                    if not re.fullmatch(arg, line):
                        reader.push(line)
                        break
                    transcript.append(f"S: {line}")
                    seen.append(line)
            elif op == "!s":
                bad = [l for l in seen if re.fullmatch(arg, l)]
                if bad:
                    fail(n, f"unexpected {bad} matching /{arg}/")
            elif op == "tls":
                if reader.pending is not None or conn.buf:
                    fail(n, f"data before the handshake: {reader.pending!r} {conn.buf!r}")
                try:
                    conn.sock = tls_client_context(certs.bundle).wrap_socket(
                        conn.sock, server_hostname=HOSTNAME)
                except (ssl.SSLError, OSError) as e:
                    fail(n, f"TLS handshake failed: {e!r}")
                transcript.append("-- TLS --")
            elif op == "eof":
                line = reader.next()
                if line is not None:
                    fail(n, f"expected the connection closed, got {line!r}")
                if conn.buf:
                    fail(n, f"partial line before close: {conn.buf!r}")
