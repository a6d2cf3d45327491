"""Fixtures for the end-to-end tests: certificates, a passwd-file, a TOML
config writer, the submitd process (started on ephemeral ports, waited for by
its log lines, stopped at teardown) and a raw-socket SMTP client.

Run:  /usr/bin/python3 -m pytest -q tests/e2e
Binary: build/submitd, or the path in the environment variable SUBMITD_BIN.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "submitd"
# Generous: the test machines are loaded two-core boxes.
WAIT = float(os.environ.get("SUBMITD_E2E_WAIT", "20"))
HOSTNAME = "mx.test"
BANNER = "submitd"
USER = "alice"
PASSWORD = "Wonderland-42"
USER2 = "bob"
PASSWORD2 = "hunter2"


# --------------------------------------------------------------------------
# small helpers


def b64(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain_ir(user: str = USER, password: str = PASSWORD, authzid: str = "") -> str:
    """The base64 PLAIN response: authzid NUL authcid NUL password."""
    return b64(f"{authzid}\0{user}\0{password}")


def skip_or_fail(reason: str) -> None:
    """Skips a test whose tool or facility is missing; with SUBMITD_E2E_STRICT=1
    (scripts/test sets it: the suite installs every tool) a missing one is a
    failure, so a skip never hides a check in CI."""
    if os.environ.get("SUBMITD_E2E_STRICT") == "1":
        pytest.fail(f"required for the full suite: {reason}")
    pytest.skip(reason)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed")
    return path


def submitd_bin() -> Path:
    path = Path(os.environ.get("SUBMITD_BIN", str(DEFAULT_BIN)))
    if not path.exists():
        pytest.fail(f"submitd binary not found at {path} (build it or set SUBMITD_BIN)")
    return path


# Sanitizers: with an ASan+UBSan build (preset "asan"; scripts/test runs the
# suite with SUBMITD_BIN=build-asan/submitd) a report fails the test whose
# submitd printed it. Reports go to submitd's stderr, an inherited descriptor
# that stays writable after the drop to server.user (a log_path file would
# be opened only at the first report, by then as that user); the Submitd
# fixture checks the stderr log at teardown, after the server has exited and
# LeakSanitizer has run; run() checks `submitd check` and `submitd pw`.
SANITIZER_OPTIONS = {
    "ASAN_OPTIONS": "detect_leaks=1",
    # The preset builds with -fno-sanitize-recover=undefined; this makes
    # another UBSan build stop at its first report too.
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
_SANITIZER_LINE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:")


def submitd_env() -> dict[str, str]:
    """The environment for submitd: ours, plus SANITIZER_OPTIONS where it sets
    none of its own."""
    env = dict(os.environ)
    for k, v in SANITIZER_OPTIONS.items():
        env.setdefault(k, v)
    return env


def sanitizer_report(text: str) -> str:
    """The first sanitizer report in `text` (up to 80 lines), or ""."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _SANITIZER_LINE.search(line):
            return "\n".join(lines[i:i + 80])
    return ""


def run(cmd, *, input=None, timeout=WAIT * 3, check=False, **kw) -> subprocess.CompletedProcess:
    cmd = [str(c) for c in cmd]
    is_submitd = cmd[0] == str(Path(os.environ.get("SUBMITD_BIN", str(DEFAULT_BIN))))
    if is_submitd:
        kw.setdefault("env", submitd_env())
    r = subprocess.run(
        cmd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        **kw,
    )
    if is_submitd:
        report = sanitizer_report(r.stderr)
        assert not report, f"sanitizer report from {' '.join(cmd)}:\n{report}"
    return r


def wait_until(predicate, timeout=WAIT, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def have_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# TOML writer (no tomli_w here): dicts are tables, lists of dicts are arrays
# of tables, None removes a key when merging overrides.


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def _is_table_array(v) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, dict) for x in v)


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def to_toml(table: dict, path: tuple = ()) -> str:
    out: list[str] = []
    for k, v in table.items():
        if v is None or isinstance(v, dict) or _is_table_array(v):
            continue
        out.append(f"{_key(k)} = {_toml_value(v)}")
    for k, v in table.items():
        name = ".".join(_key(p) for p in path + (k,))
        if isinstance(v, dict):
            out.append("")
            out.append(f"[{name}]")
            out.append(to_toml(v, path + (k,)))
        elif _is_table_array(v):
            for item in v:
                out.append("")
                out.append(f"[[{name}]]")
                out.append(to_toml(item, path + (k,)))
    return "\n".join(x for x in out if x is not None) + ("\n" if not path else "")


def merge(base: dict, overrides: dict) -> dict:
    for k, v in overrides.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


# --------------------------------------------------------------------------
# certificates and password files


def make_cert(directory: Path, name: str, cn: str, sans: list[str], kind: str = "ec") -> tuple[Path, Path]:
    cert = directory / f"{name}.pem"
    key = directory / f"{name}.key"
    newkey = ["-newkey", "rsa:2048"] if kind == "rsa" else [
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    run(
        ["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", key, "-out", cert,
         "-subj", f"/CN={cn}", "-days", "2", "-addext", "subjectAltName=" + ",".join(sans)],
        check=True,
    )
    return cert, key


class Certs:
    """Three self-signed certificates: `a` (the default, CN=mx.test), `b` (a
    replacement for reload tests, CN=mx-reloaded.test, same names) and `other`
    (for SNI, CN=other.test). `bundle` trusts all three."""

    def __init__(self, directory: Path):
        sans = ["DNS:mx.test", "DNS:localhost", "IP:127.0.0.1", "IP:::1"]
        self.dir = directory
        self.a_cert, self.a_key = make_cert(directory, "a", "mx.test", sans)
        self.b_cert, self.b_key = make_cert(directory, "b", "mx-reloaded.test", sans, kind="rsa")
        self.other_cert, self.other_key = make_cert(directory, "other", "other.test", ["DNS:other.test"])
        self.bundle = directory / "bundle.pem"
        self.bundle.write_text(
            self.a_cert.read_text() + self.b_cert.read_text() + self.other_cert.read_text())

    @staticmethod
    def der(cert: Path) -> bytes:
        return ssl.PEM_cert_to_DER_cert(cert.read_text())


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certs:
    need_tool("openssl")
    return Certs(tmp_path_factory.mktemp("certs"))


def hash_password(password: str, scheme: str) -> str:
    """A passdb hash made by another tool (doveadm), PLAIN when it is absent."""
    if scheme == "PLAIN" or shutil.which("doveadm") is None:
        return "{PLAIN}" + password
    r = run(["doveadm", "pw", "-s", scheme, "-p", password], check=True)
    return r.stdout.strip()


@pytest.fixture(scope="session")
def alice_hash() -> str:
    return hash_password(PASSWORD, "SHA512-CRYPT")


def passwd_text(entries: dict[str, str]) -> str:
    lines = ["# submitd e2e passdb", ""]
    for user, h in entries.items():
        lines.append(f"{user}:{h}:1000:1000::/home/{user}::")
    lines.append("")
    return "\n".join(lines)


def tls_client_context(cafile: Path, *, minimum=None, maximum=None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(cafile))
    ctx.check_hostname = True
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


# --------------------------------------------------------------------------
# log lines

_FIELD = re.compile(r'([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_LINE = re.compile(r"^(\S+) (debug|info|warn|error) (\S+)(.*)$")


def parse_fields(rest: str) -> dict[str, str]:
    fields = {}
    for k, v in _FIELD.findall(rest):
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        fields[k] = v
    return fields


class LogEvent(dict):
    def __init__(self, line: str):
        m = _LINE.match(line)
        if not m:
            raise ValueError(line)
        super().__init__(parse_fields(m.group(4)))
        self.line = line
        self.timestamp, self.level, self.event = m.group(1), m.group(2), m.group(3)

    def __repr__(self):
        return f"LogEvent({self.line!r})"


def split_hostport(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------
# the server process


class Submitd:
    def __init__(self, workdir: Path, config: dict, binary: Path):
        self.dir = workdir
        self.config = config
        self.binary = binary
        self.config_path = workdir / "submitd.toml"
        self.log_path = workdir / "stderr.log"
        self.out_path = workdir / "stdout.log"
        self.proc: subprocess.Popen | None = None
        self.exit_log = ""  # stderr as the last stop() found it
        self.listeners: dict[str, tuple[str, int]] = {}
        self.write_config()

    # config ---------------------------------------------------------------
    def write_config(self, config: dict | None = None):
        if config is not None:
            self.config = config
        self.config_path.write_text(to_toml(self.config))

    # process --------------------------------------------------------------
    def start(self, wait_ready=True):
        self._err = open(self.log_path, "ab")
        self._out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
            cwd=self.dir, start_new_session=True, env=submitd_env(),
        )
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self):
        self.wait_event("ready")
        self.listeners = {}
        for ev in self.events("listening"):
            self.listeners[ev["listener"]] = split_hostport(ev["address"])
        expected = {l["name"] for l in self.config.get("listener", [])}
        assert expected <= set(self.listeners), (
            f"listening lines for {sorted(self.listeners)}, config has {sorted(expected)}")

    def addr(self, name="submission") -> tuple[str, int]:
        return self.listeners[name]

    def port(self, name="submission") -> int:
        return self.listeners[name][1]

    def send_signal(self, sig):
        assert self.proc is not None and self.proc.poll() is None, "submitd is not running"
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=WAIT) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout=WAIT) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        if not self._err.closed:
            # Read through our descriptor: a test's own fixture may have
            # removed the directory already (tests/e2e/test_privileges.py).
            with open(f"/proc/self/fd/{self._err.fileno()}", "rb") as f:
                self.exit_log = f.read().decode("utf-8", "replace")
        for f in (self._err, self._out):
            f.close()
        return self.proc.returncode

    # logs -----------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        """An offset: wait_event(..., after=mark) sees only later lines."""
        return len(self.log_text())

    def events(self, event: str | None = None, after: int = 0, **fields) -> list[LogEvent]:
        out = []
        text = self.log_text()[after:]
        lines = text.split("\n")[:-1]  # the last piece is empty or still being written
        for line in lines:
            try:
                ev = LogEvent(line)
            except ValueError:
                continue
            if event is not None and ev.event != event:
                continue
            if all(ev.get(k) == str(v) for k, v in fields.items()):
                out.append(ev)
        return out

    def wait_event(self, event: str, after: int = 0, timeout: float = WAIT, count: int = 1,
                   **fields) -> LogEvent:
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events(event, after, **fields)
            if len(evs) >= count:
                return evs[count - 1]
            if self.proc is not None and self.proc.poll() is not None:
                evs = self.events(event, after, **fields)
                if len(evs) >= count:
                    return evs[count - 1]
                raise AssertionError(
                    f"submitd exited ({self.proc.returncode}) before logging {event} {fields}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no '{event}' log line with {fields} within {timeout}s")
            time.sleep(0.02)

    # clients --------------------------------------------------------------
    def connect(self, listener="submission", **kw) -> "SMTPConn":
        host, port = self.addr(listener)
        return SMTPConn(host, port, **kw)


def base_config(workdir: Path, certs: Certs) -> dict:
    tls_dir = workdir / "tls"
    tls_dir.mkdir(exist_ok=True)
    cert = tls_dir / "cert.pem"
    key = tls_dir / "key.pem"
    shutil.copy(certs.a_cert, cert)
    shutil.copy(certs.a_key, key)
    return {
        "server": {"hostname": HOSTNAME, "banner": BANNER, "workers": 2,
                   "shutdown_grace": 2.0, "log_level": "info"},
        "listener": [
            {"name": "submission", "address": "127.0.0.1:0", "tls": "starttls"},
            {"name": "submissions", "address": "127.0.0.1:0", "tls": "implicit"},
        ],
        "tls": {"certificate": str(cert), "key": str(key)},
        "auth": {"mechanisms": ["PLAIN", "LOGIN"], "allow_plaintext_auth": False,
                 "failure_delay": 0.2, "failure_delay_max": 2.0, "max_failures": 3},
        "passdb": {"driver": "passwd-file", "path": str(workdir / "passwd")},
        "limits": {"idle_timeout": 30.0, "command_timeout": 30.0,
                   "tls_handshake_timeout": 10.0, "max_bad_commands": 10,
                   "max_connections_per_ip": 20},
    }


@pytest.fixture
def submitd(request, tmp_path, certs, alice_hash):
    """Factory: submitd(overrides) writes a config (the base one merged with
    `overrides`), starts the server and waits for its `ready` line. Pass
    start=False to get it unstarted; passwd= to replace the passdb text."""
    servers: list[Submitd] = []
    request.node._submitd_servers = servers
    binary = submitd_bin()

    def factory(overrides: dict | None = None, *, start=True, passwd: str | None = None,
                workdir: Path | None = None) -> Submitd:
        if workdir is None:
            workdir = tmp_path / f"submitd{len(servers)}"
        workdir.mkdir(exist_ok=True)
        config = merge(base_config(workdir, certs), overrides or {})
        if passwd is None:
            passwd = passwd_text({USER: alice_hash, USER2: "{PLAIN}" + PASSWORD2})
        (workdir / "passwd").write_text(passwd)
        server = Submitd(workdir, config, binary)
        servers.append(server)
        if start:
            server.start()
        return server

    yield factory
    for s in servers:
        s.stop()
    reports = [f"submitd[{i}] ({s.log_path}):\n{r}" for i, s in enumerate(servers)
               if (r := sanitizer_report(s.exit_log))]
    if reports:
        pytest.fail("sanitizer report from submitd:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture
def server(submitd) -> Submitd:
    """A server with the default test configuration."""
    return submitd()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, s in enumerate(getattr(item, "_submitd_servers", [])):
            text = s.log_text()
            if len(text) > 30000:
                text = "...\n" + text[-30000:]
            rep.sections.append((f"submitd[{i}] stderr ({s.log_path})", text))
        for i, p in enumerate(getattr(item, "_postfix_instances", [])):
            rep.sections.append((f"postfix[{i}] maillog ({p.maillog})", p.log_text()[-20000:]))


# --------------------------------------------------------------------------
# raw SMTP client


class Reply:
    def __init__(self, code: int, lines: list[str]):
        self.code = code
        self.lines = lines

    @property
    def text(self) -> str:
        return self.lines[0] if self.lines else ""

    @property
    def enhanced(self) -> str | None:
        m = re.match(r"^([245]\.\d{1,3}\.\d{1,3})(?: |$)", self.text)
        return m.group(1) if m else None

    def __str__(self):
        return "\n".join(f"{self.code}{'-' if i < len(self.lines) - 1 else ' '}{l}"
                         for i, l in enumerate(self.lines))

    __repr__ = __str__

    def capabilities(self) -> dict[str, list[str]]:
        """EHLO keywords (upper case) -> parameters, from the second line on."""
        caps = {}
        for line in self.lines[1:]:
            parts = line.split()
            if parts:
                caps[parts[0].upper()] = [p.upper() for p in parts[1:]]
        return caps


def assert_reply(reply: Reply, code: int, enhanced: str | None = None):
    assert reply.code == code, f"expected {code} {enhanced or ''}, got: {reply}"
    if enhanced is not None:
        assert reply.enhanced == enhanced, f"expected {code} {enhanced}, got: {reply}"


class SMTPConn:
    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                 server_hostname: str | None = HOSTNAME, timeout: float = WAIT,
                 source: str | None = None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.local = self.sock.getsockname()
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = b""
        self.bytes_in = 0   # bytes we received (plaintext)
        self.bytes_out = 0  # bytes we sent (plaintext)
        self.timeout = timeout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def local_port(self) -> int:
        return self.local[1]

    def send(self, data: str | bytes):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)
        self.bytes_out += len(data)

    def _fill(self, timeout: float):
        self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed; unparsed data: {self.buf!r}")
        self.bytes_in += len(chunk)
        self.buf += chunk

    def read_line(self, timeout: float | None = None) -> str:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete reply line within {timeout}s; buffered: {self.buf!r}")
            try:
                self._fill(left)
            except socket.timeout:
                raise TimeoutError(f"no complete reply line within {timeout}s; buffered: {self.buf!r}")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def read_reply(self, timeout: float | None = None) -> Reply:
        lines: list[str] = []
        code = None
        while True:
            line = self.read_line(timeout)
            m = re.match(r"^(\d{3})([ -])(.*)$", line)
            assert m, f"malformed reply line {line!r} (after {lines})"
            if code is None:
                code = int(m.group(1))
            assert int(m.group(1)) == code, f"reply code changed within a reply: {lines} then {line!r}"
            lines.append(m.group(3))
            if m.group(2) == " ":
                return Reply(code, lines)

    def cmd(self, line: str | bytes, timeout: float | None = None) -> Reply:
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.read_reply(timeout)

    def greeting(self) -> Reply:
        return self.read_reply()

    def ehlo(self, domain="client.test") -> Reply:
        r = self.cmd(f"EHLO {domain}")
        assert_reply(r, 250)
        return r

    def starttls(self, ctx: ssl.SSLContext, server_hostname: str | None = HOSTNAME):
        r = self.cmd("STARTTLS")
        assert_reply(r, 220)
        assert self.buf == b"", f"data after the STARTTLS reply, before the handshake: {self.buf!r}"
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return r

    def auth_plain(self, user=USER, password=PASSWORD) -> Reply:
        return self.cmd(f"AUTH PLAIN {plain_ir(user, password)}")

    def read_until_eof(self, timeout: float | None = None) -> bytes:
        """Everything until the server closes (raises on timeout)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"connection still open after {timeout}s; got {self.buf!r}")
            try:
                self._fill(left)
            except EOFError:
                data, self.buf = self.buf, b""
                return data
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                data, self.buf = self.buf, b""
                return data

    def replies_until_eof(self, timeout: float | None = None) -> list[Reply]:
        data = self.read_until_eof(timeout)
        out = []
        lines = data.split(b"\r\n")
        assert lines[-1] == b"", f"data after the last CRLF: {data!r}"
        cur: list[str] = []
        for raw in lines[:-1]:
            line = raw.decode("utf-8", "replace")
            m = re.match(r"^(\d{3})([ -])(.*)$", line)
            assert m, f"malformed reply line {line!r}"
            cur.append(m.group(3))
            if m.group(2) == " ":
                out.append(Reply(int(m.group(1)), cur))
                cur = []
        assert not cur, f"unterminated multi-line reply: {cur}"
        return out

    def nothing_pending(self, timeout: float = 0.3) -> bytes:
        """Bytes that arrive within `timeout` (used only where no sentinel
        command can prove absence)."""
        if self.buf:
            return self.buf
        self.sock.settimeout(timeout)
        try:
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                return self.sock.recv(65536)
            r, _, _ = select.select([self.sock], [], [], timeout)
            if r:
                return self.sock.recv(65536) or b"<EOF>"
        except (socket.timeout, ssl.SSLWantReadError):
            return b""
        return b""


# --------------------------------------------------------------------------
# relays: the recording relay (aiosmtpd), Postfix's smtp-sink, a private
# Postfix smtpd; and a client that authenticates and submits (tests/e2e/
# relay_server.py has the recording relay and its fault knobs).

from relay_server import RecordingRelay, closed_port, free_port  # noqa: E402


def relay_entry(relay=None, **kw) -> dict:
    """A [[relay]] table: `relay` is a RecordingRelay, SmtpSink, PostfixRelay
    or an address string."""
    if relay is None:
        entry = {}
    elif isinstance(relay, str):
        entry = {"address": relay}
    else:
        entry = {"address": relay.address}
    entry.update(kw)
    return entry


def relay_config(*relays, submission: dict | None = None, relay_client: dict | None = None,
                 **extra) -> dict:
    """Overrides for submitd(...): one [[relay]] per argument (a relay object,
    an address or a ready dict), plus [submission] and [relay_client]."""
    cfg: dict = {"relay": [r if isinstance(r, dict) else relay_entry(r) for r in relays]}
    if submission:
        cfg["submission"] = submission
    if relay_client:
        cfg["relay_client"] = relay_client
    cfg.update(extra)
    return cfg


@pytest.fixture
def recording_relay(certs):
    """Factory: recording_relay(**behaviour) starts a RecordingRelay on
    127.0.0.1:<ephemeral> (see relay_server.py for the knobs) and stops it at
    teardown. tls="starttls"/"implicit" uses the test certificate `a`."""
    relays: list[RecordingRelay] = []

    def factory(**behaviour) -> RecordingRelay:
        if behaviour.get("tls", "none") != "none":
            behaviour.setdefault("tls_cert", certs.a_cert)
            behaviour.setdefault("tls_key", certs.a_key)
        r = RecordingRelay(**behaviour)
        relays.append(r)
        return r.start()

    yield factory
    for r in relays:
        r.stop()


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1:<port>, dumping each transaction to a
    file in `dump_dir` (one file per message, LF line ends, with X-Mail-Args /
    X-Rcpt-Args / Received headers of its own before the message)."""

    def __init__(self, args: list[str]):
        import tempfile
        # smtp-sink drops to nobody (when root): pytest's tmp_path is 0700.
        self.dir = Path(tempfile.mkdtemp(prefix="submitd-e2e-sink-"))
        os.chmod(self.dir, 0o755)
        self.dump_dir = self.dir / "dump"
        self.dump_dir.mkdir()
        os.chmod(self.dump_dir, 0o777)
        self.args = args
        self.proc = None
        self.port = None

    def start(self):
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        if not os.path.exists(binary):
            skip_or_fail("smtp-sink (postfix) is not installed")
        for _ in range(5):  # the free port may be taken between the check and the bind
            self.port = free_port()
            cmd = [binary, "-h", "sink.test", "-d", str(self.dump_dir / "msg.")]
            if os.geteuid() == 0:
                cmd += ["-u", "nobody"]
            cmd += self.args + [f"127.0.0.1:{self.port}", "64"]
            self.log = open(self.dir / "smtp-sink.log", "ab")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=self.log, start_new_session=True)
            if self._wait_listening():
                return self
            self.stop()
        raise AssertionError(f"smtp-sink did not start: {(self.dir / 'smtp-sink.log').read_text()}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def files(self) -> list[Path]:
        return sorted(self.dump_dir.glob("msg.*"), key=lambda p: p.stat().st_mtime_ns)

    def wait_messages(self, n=1, timeout=WAIT) -> list[bytes]:
        """The dumps of `n` complete messages (the dump ends with an empty line
        after the message)."""
        def done():
            texts = [p.read_bytes() for p in self.files()]
            texts = [t for t in texts if t.endswith(b"\n\n")]
            return texts if len(texts) >= n else None
        return wait_until(done, timeout, what=f"{n} smtp-sink dump(s)")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture
def smtp_sink():
    """Factory: smtp_sink(*extra_args) starts /usr/sbin/smtp-sink on a free
    port of 127.0.0.1 (extra_args are smtp-sink options, e.g. "-8", "-p")."""
    sinks: list[SmtpSink] = []

    def factory(*args: str) -> SmtpSink:
        s = SmtpSink(list(args))
        sinks.append(s)
        return s.start()

    yield factory
    for s in sinks:
        s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)


POSTFIX_MASTER_CF = """\
{listen} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class PostfixRelay:
    """A private Postfix instance (its own config, queue and data directories
    under a world-traversable temporary directory: Postfix's daemons run as
    the postfix user and cannot enter pytest's 0700 tmp_path) whose smtpd
    listens on 127.0.0.1:<port>, offers STARTTLS with the test certificate,
    trusts 127.0.0.1 for XCLIENT, relays for 127.0.0.0/8 and SASL-authenticated
    (XCLIENT LOGIN) clients, and discards what it accepts. It logs to
    `maillog` (postlogd), with client ports."""

    def __init__(self, certs: Certs, main_cf: dict):
        import tempfile
        self.dir = Path(tempfile.mkdtemp(prefix="submitd-e2e-postfix-"))
        os.chmod(self.dir, 0o755)
        self.conf = self.dir / "conf"
        self.conf.mkdir()
        (self.dir / "queue").mkdir(mode=0o755)
        (self.dir / "data").mkdir(mode=0o700)
        shutil.chown(self.dir / "data", "postfix", "postfix")
        shutil.copy(certs.a_cert, self.dir / "cert.pem")
        shutil.copy(certs.a_key, self.dir / "key.pem")
        self.maillog = self.dir / "maillog"
        self.main_cf = main_cf
        self.proc = None
        self.port = None

    def _write(self):
        d = self.dir
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": f"{d}/queue", "data_directory": f"{d}/data",
            "mail_owner": "postfix", "setgid_group": "postdrop",
            "myhostname": "postfix.test", "mydomain": "test", "myorigin": "postfix.test",
            "mydestination": "", "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_authorized_xclient_hosts": "127.0.0.1",
            "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject",
            "default_transport": "discard", "local_transport": "discard",
            "relay_transport": "discard",
            "smtpd_tls_cert_file": f"{d}/cert.pem", "smtpd_tls_key_file": f"{d}/key.pem",
            "smtpd_tls_security_level": "may", "smtpd_tls_session_cache_database": "",
            "smtpd_tls_loglevel": "1",
            "smtpd_client_port_logging": "yes",
            "maillog_file": str(self.maillog), "maillog_file_prefixes": str(d),
            "alias_maps": "", "alias_database": "", "biff": "no",
            "message_size_limit": "52428800", "smtputf8_enable": "yes",
        }
        settings.update(self.main_cf)
        (self.conf / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.conf / "master.cf").write_text(POSTFIX_MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))

    def start(self):
        postfix = shutil.which("postfix") or "/usr/sbin/postfix"
        if not os.path.exists(postfix):
            skip_or_fail("postfix is not installed")
        if os.geteuid() != 0:
            skip_or_fail("a private Postfix instance needs root here (its daemons run as postfix)")
        for _ in range(5):
            self.port = free_port()
            self._write()
            r = run([postfix, "-c", self.conf, "check"])
            assert r.returncode == 0, f"postfix check: {r.stdout}{r.stderr}{self.log_text()}"
            self._out = open(self.dir / "start-fg.log", "ab")
            self.proc = subprocess.Popen([postfix, "-c", str(self.conf), "start-fg"],
                                         stdin=subprocess.DEVNULL, stdout=self._out,
                                         stderr=self._out, start_new_session=True)
            if self._wait_listening():
                return self
            self.stop()
        raise AssertionError(f"postfix did not start: {self.log_text()}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if re.search(r"fatal:", self.log_text()):
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_text(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout=WAIT) -> re.Match:
        rx = re.compile(pattern, re.M)
        return wait_until(lambda: rx.search(self.log_text()), timeout,
                          what=f"Postfix log line matching {pattern!r}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            run(["postfix", "-c", self.conf, "stop"])
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)
        self._out.close()
        self.proc = None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postfix_relay(request, certs):
    """Factory: postfix_relay(**main_cf) starts a private Postfix smtpd (see
    PostfixRelay) with main.cf settings overridden by `main_cf`; stopped and
    removed at teardown, its maillog attached to a failing test's report."""
    instances: list[PostfixRelay] = []
    request.node._postfix_instances = instances

    def factory(**main_cf) -> PostfixRelay:
        p = PostfixRelay(certs, {k: str(v) for k, v in main_cf.items()})
        instances.append(p)
        return p.start()

    yield factory
    for p in instances:
        p.stop()
        p.cleanup()


# --------------------------------------------------------------------------
# submitting through submitd


def open_session(server: Submitd, certs: Certs, *, user=USER, password=PASSWORD,
                 ehlo="client.test", source: str | None = None, listener="submission") -> SMTPConn:
    """A raw connection after EHLO, STARTTLS, EHLO and a successful AUTH PLAIN."""
    c = server.connect(listener, source=source)
    assert_reply(c.greeting(), 220)
    c.ehlo(ehlo)
    c.starttls(tls_client_context(certs.bundle))
    c.ehlo(ehlo)
    assert_reply(c.auth_plain(user, password), 235)
    return c


def dot_stuff(content: bytes) -> bytes:
    """Content as sent after DATA (with the final CRLF.CRLF)."""
    if content and not content.endswith(b"\r\n"):
        content += b"\r\n"
    return re.sub(rb"(^|\r\n)\.", rb"\1..", content) + b".\r\n"


def submit(conn: SMTPConn, sender: str, rcpts: list[str], content: bytes,
           mail_params: str = "") -> Reply:
    """MAIL, RCPT..., DATA, content: the final reply (asserts 250 for MAIL,
    each RCPT and 354 for DATA)."""
    assert_reply(conn.cmd(f"MAIL FROM:<{sender}>{' ' + mail_params if mail_params else ''}"), 250)
    for r in rcpts:
        assert_reply(conn.cmd(f"RCPT TO:<{r}>"), 250)
    assert_reply(conn.cmd("DATA"), 354)
    conn.send(dot_stuff(content))
    return conn.read_reply()


def split_received(content: bytes) -> tuple[bytes, bytes]:
    """(our Received header, with its folded lines; the rest) of a relayed
    message, which must start with a Received header."""
    assert content.startswith(b"Received: "), f"no Received header first: {content[:200]!r}"
    m = re.match(rb"Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", content)
    assert m, content[:300]
    return m.group(0), content[m.end():]


def attempt(conn: SMTPConn, sender: str, rcpts: list[str], content: bytes) -> tuple[str, Reply]:
    """Runs one transaction and stops at the first reply that is not the
    expected success: (stage, reply) with stage in mail | rcpt | data | eod
    (eod: the reply after the content, whatever it is)."""
    r = conn.cmd(f"MAIL FROM:<{sender}>")
    if r.code != 250:
        return "mail", r
    for rc in rcpts:
        r = conn.cmd(f"RCPT TO:<{rc}>")
        if r.code != 250:
            return "rcpt", r
    r = conn.cmd("DATA")
    if r.code != 354:
        return "data", r
    conn.send(dot_stuff(content))
    return "eod", conn.read_reply()

# Private Cyrus and Dovecot IMAP servers (for BURL): the fixtures live there.
from imap_servers import cyrus_imap, dovecot_imap  # noqa: F401,E402
