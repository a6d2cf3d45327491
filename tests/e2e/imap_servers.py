"""Private IMAP servers for the BURL tests: Cyrus IMAP 3.6 (URLAUTH and
URLFETCH) and Dovecot 2.3 (a master user, for BURL's trusted-server mode).

    def test_x(cyrus_imap, dovecot_imap):
        cyrus = cyrus_imap()                # started, on 127.0.0.1:<free port>
        v, uid = cyrus.append(USER, PASSWORD, b"Subject: x\\r\\n\\r\\nhi\\r\\n")
        url = cyrus.genurlauth(USER, PASSWORD, cyrus.url(USER, v, uid))
        assert cyrus.urlfetch(SUBMIT_USER, SUBMIT_PASSWORD, url) == b"Subject: x..."
        cyrus.stop()                        # mid-test: the port is then closed

Each instance lives in its own world-traversable temporary directory (the
servers drop to their own users and cannot enter pytest's 0700 tmp_path),
listens on 127.0.0.1 only and reads no system configuration; the fixtures
stop and remove them at teardown, and attach their logs to a failing test's
report. See /work/shared/reference/imap-urlauth-peers.md for the facts the
configurations rest on.

Cyrus: cyrus-common's master runs the imapd of the cyrus-imapd package (which
conflicts with dovecot-imapd): /usr/lib/cyrus/bin/imapd when installed, else
var/cyrus-imapd/usr/lib/cyrus/bin/imapd (unpacked there by
scripts/install-deps), or the path in SUBMITD_CYRUS_IMAPD.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import (PASSWORD, PASSWORD2, REPO, USER, USER2, WAIT, Certs, free_port, run,
                      skip_or_fail, wait_until)

HOST = "127.0.0.1"

# USER/PASSWORD (alice, Wonderland-42) and USER2/PASSWORD2 (bob, hunter2)
# are conftest's, re-exported here.
# Cyrus: the account allowed to URLFETCH "submit+" URLs (submitservers);
# Dovecot: the master user (log in as "alice*submit" with its password).
SUBMIT_USER = "submit"
SUBMIT_PASSWORD = "submit-secret"
USERS = {USER: PASSWORD, USER2: PASSWORD2}

CYRUS_MASTER = "/usr/lib/cyrus/bin/master"
CYRUS_IMAPD_INSTALLED = "/usr/lib/cyrus/bin/imapd"
CYRUS_IMAPD_UNPACKED = REPO / "var" / "cyrus-imapd" / "usr" / "lib" / "cyrus" / "bin" / "imapd"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
DOVECOT = "/usr/sbin/dovecot"
DOVECOT_IMAP = "/usr/lib/dovecot/imap"

START_ATTEMPTS = 5  # a free port may be taken between the check and the bind

# Commands imaplib does not know (it refuses unknown ones).
for _name in ("GENURLAUTH", "URLFETCH", "RESETKEY"):
    imaplib.Commands.setdefault(_name, ("AUTH", "SELECTED"))


def imap_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(data: bytes) -> str:
    s = data.decode("utf-8", "replace").strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        s = re.sub(r"\\(.)", r"\1", s[1:-1])
    return s


def _check_crlf(message: bytes) -> None:
    # imaplib turns every bare CR or LF into CRLF: the stored octets would
    # silently differ from what the test holds.
    if re.search(rb"\r(?!\n)|(?<!\r)\n", message):
        raise ValueError("append() needs CRLF line ends only (imaplib rewrites bare CR/LF)")


def _cut(text: str, limit: int = 20000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


class ImapServer:
    """What both servers share: the port, the process, the IMAP helpers."""

    kind = "imap"

    def __init__(self, certs: Certs | None, prefix: str):
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.dir, 0o755)
        self.host = HOST
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.tls = certs is not None
        self.token = uuid.uuid4().hex[:12]
        if certs is not None:
            shutil.copy(certs.a_cert, self.dir / "cert.pem")
            shutil.copy(certs.a_key, self.dir / "key.pem")
        self._out = None
        self._final_log: str | None = None

    # process ----------------------------------------------------------------
    def _popen(self, cmd: list[str]) -> None:
        self._out = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)

    def _greeting_ok(self, line: bytes) -> bool:
        raise NotImplementedError

    def _port_taken(self) -> bool:
        """Whether another process listens on the port (so our bind failed or
        will fail: Cyrus's master then says so only to syslog and lives on).
        Linux: the LISTEN sockets of /proc/net/tcp* against the master's fds."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                f = row.split()
                if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == self.port:
                    inodes.add(f[9])
        if not inodes:
            return False
        mine = set()
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        try:
            for fd in fd_dir.iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    mine.add(target[8:-1])
        except OSError:
            return False
        return not inodes & mine

    def _wait_ready(self) -> bool:
        """True once the port accepts and answers with this server's
        greeting; False when the process died, its bind failed or another
        program answers on the port."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None or self._port_taken():
                return False
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1)
            except OSError:
                time.sleep(0.05)
                continue
            try:
                # Short reads, so that a dead process or a failed bind is
                # noticed even when something else holds the port silently.
                sock.settimeout(min(3.0, max(0.5, deadline - time.monotonic())))
                line = sock.makefile("rb").readline()
            except OSError:  # timeout or reset: check again
                line = b""
            finally:
                sock.close()
            if not line.endswith(b"\n"):  # closed, or no greeting yet
                time.sleep(0.05)
                continue
            return self._greeting_ok(line)
        return False

    def stop(self) -> int | None:
        """SIGTERM to the master, waits for it to exit, then ends and waits
        for what is left of its process group (Dovecot's master does not wait
        for its log, stats and imap processes). Idempotent."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=WAIT)
        if self._group_alive():
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + WAIT
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if self._group_alive():
                self._signal_group(signal.SIGKILL)
                wait_until(lambda: not self._group_alive(), what=f"{self.kind} processes to exit")
        if self._out is not None:
            self._out.close()
            self._out = None
        return self.proc.returncode

    def _group_alive(self) -> bool:
        """Whether a process (not a zombie) of the server's process group
        (the master's pid: started in a new session) is left."""
        pgid = self.proc.pid
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
        return False

    def _signal_group(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self) -> None:
        self._final_log = self.log_text()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def log_text(self) -> str:
        raise NotImplementedError

    # IMAP -------------------------------------------------------------------
    @contextmanager
    def session(self, user: str, password: str):
        """An imaplib connection logged in (LOGIN) as user."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=WAIT)
        try:
            imap.login(imap_quote(user), password)  # "alice*submit": * is no atom char
            yield imap
        finally:
            try:
                imap.logout()
            except (imaplib.IMAP4.error, OSError, EOFError):
                pass

    def append(self, user: str, password: str, message: bytes,
               mailbox: str = "INBOX") -> tuple[int, int]:
        """APPENDs message (CRLF line ends) as user: (UIDVALIDITY, UID)."""
        _check_crlf(message)
        with self.session(user, password) as imap:
            typ, data = imap.append(imap_quote(mailbox), None, None, message)
            assert typ == "OK", f"APPEND: {typ} {data}"
            m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0] or b"")
            if m:
                return int(m.group(1)), int(m.group(2))
            typ, data = imap.select(imap_quote(mailbox), readonly=True)
            assert typ == "OK", f"EXAMINE: {typ} {data}"
            _, v = imap.response("UIDVALIDITY")
            typ, data = imap.uid("SEARCH", "ALL")
            assert typ == "OK", f"UID SEARCH: {typ} {data}"
            return int(v[0]), max(int(u) for u in data[0].split())

    def url(self, user: str, uidvalidity: int, uid: int, mailbox: str = "INBOX",
            section: str | None = None) -> str:
        """imap://user@127.0.0.1:PORT/INBOX;UIDVALIDITY=v/;UID=n[/;SECTION=s]
        (RFC 5092)."""
        u = (f"imap://{quote(user, safe='')}@{self.host}:{self.port}/"
             f"{quote(mailbox, safe=SAFE_BCHARS)};UIDVALIDITY={uidvalidity}/;UID={uid}")
        if section is not None:
            u += f"/;SECTION={quote(section, safe=SAFE_BCHARS)}"
        return u

    def fetch(self, user: str, password: str, uid: int, mailbox: str = "INBOX") -> bytes:
        """The octets of message uid in mailbox, read as user."""
        with self.session(user, password) as imap:
            return self._fetch_body(imap, uid, mailbox)

    @staticmethod
    def _fetch_body(imap, uid, mailbox, uidvalidity=None) -> bytes:
        typ, data = imap.select(imap_quote(mailbox), readonly=True)
        assert typ == "OK", f"EXAMINE {mailbox}: {typ} {data}"
        if uidvalidity is not None:
            _, v = imap.response("UIDVALIDITY")
            assert int(v[0]) == uidvalidity, f"UIDVALIDITY {v[0]!r}, expected {uidvalidity}"
        typ, data = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
        assert typ == "OK", f"UID FETCH: {typ} {data}"
        for item in data:
            if isinstance(item, tuple):
                return item[1]
        raise AssertionError(f"no message with UID {uid} in {mailbox}: {data}")


# RFC 5092 bchar minus the escaped form: unreserved (quote's default) plus these.
SAFE_BCHARS = "!$'()*+,&=~:@/"


# ------------------------------------------------------------------------------
# Cyrus

CYRUS_CONF = """\
START {{
  recover cmd="ctl_cyrusdb -C {conf} -r"
}}

SERVICES {{
  imap cmd="{imapd} -C {conf}" listen="{host}:{port}" prefork=0 maxchild=20
}}

EVENTS {{
}}
"""


def cyrus_imapd() -> str | None:
    """The imapd to run, or None."""
    env = os.environ.get("SUBMITD_CYRUS_IMAPD")
    if env:
        return env if os.access(env, os.X_OK) else None
    for p in (CYRUS_IMAPD_INSTALLED, CYRUS_IMAPD_UNPACKED):
        if os.access(p, os.X_OK):
            return str(p)
    return None


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        skip_or_fail(f"a private {what} needs root here (its processes change users)")


class CyrusImap(ImapServer):
    """A private Cyrus IMAP 3.6: master (cyrus-common) running imapd on
    127.0.0.1:port, servername "127.0.0.1:PORT", users alice, bob and
    submit (the URLFETCH account, `submitservers: submit`) in a private
    sasldb (realm = servername), plaintext LOGIN allowed, STARTTLS with the
    test certificate `a` when certs are given. Cyrus logs to syslog (absent
    here): log_text() has master's output and the per-user protocol
    telemetry (configdirectory/log/<user>)."""

    kind = "cyrus"

    @staticmethod
    def require() -> str:
        """Skips (fails under SUBMITD_E2E_STRICT=1) when something is
        missing; the imapd path otherwise."""
        if not os.access(CYRUS_MASTER, os.X_OK):
            skip_or_fail(f"{CYRUS_MASTER} is missing (install cyrus-common)")
        if not os.access(SASLPASSWD2, os.X_OK):
            skip_or_fail(f"{SASLPASSWD2} is missing (install sasl2-bin)")
        imapd = cyrus_imapd()
        if imapd is None:
            skip_or_fail("no Cyrus imapd: install cyrus-imapd or run scripts/install-deps "
                         f"(unpacks it into {CYRUS_IMAPD_UNPACKED.parents[4]}), "
                         "or set SUBMITD_CYRUS_IMAPD")
        _need_root("Cyrus IMAP")
        return imapd

    def __init__(self, certs: Certs | None = None, imapd_conf: dict | None = None):
        self.imapd = self.require()
        super().__init__(certs, "submitd-e2e-cyrus-")
        self.imapd_conf_extra = {k: str(v) for k, v in (imapd_conf or {}).items()}
        self.conf = self.dir / "imapd.conf"
        self.cyrus_conf = self.dir / "cyrus.conf"
        self.sasldb = self.dir / "sasldb2"
        self.master_log = self.dir / "master.log"
        self.users = dict(USERS, **{SUBMIT_USER: SUBMIT_PASSWORD})
        # Started as root, master drops to the cyrus user (group mail).
        pw = pwd.getpwnam("cyrus")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # config/socket: imapd binds its IDLE client socket there.
        for d in ("config", "config/socket", "spool", "run", "socket"):
            (self.dir / d).mkdir(mode=0o750)
            os.chown(self.dir / d, self.uid, self.gid)
        # Protocol telemetry per user: the only Cyrus log without syslog.
        for d in ("config/log",) + tuple(f"config/log/{u}" for u in self.users):
            (self.dir / d).mkdir(mode=0o750, exist_ok=True)
            os.chown(self.dir / d, self.uid, self.gid)
        if self.tls:
            for f in ("cert.pem", "key.pem"):
                os.chown(self.dir / f, self.uid, self.gid)
                os.chmod(self.dir / f, 0o600)

    @property
    def servername(self) -> str:
        return f"{self.host}:{self.port}"

    def _write(self, imapd: str) -> None:
        d = self.dir
        settings = {
            "configdirectory": f"{d}/config",
            "defaultpartition": "default",
            "partition-default": f"{d}/spool",
            "proc_path": f"{d}/run/proc",
            "mboxname_lockpath": f"{d}/run/lock",
            "lmtpsocket": f"{d}/socket/lmtp",
            "idlesocket": f"{d}/socket/idle",
            "notifysocket": f"{d}/socket/notify",
            "servername": self.servername,
            "submitservers": SUBMIT_USER,
            "allowplaintext": "yes",
            "sasl_pwcheck_method": "auxprop",
            "sasl_auxprop_plugin": "sasldb",
            "sasl_sasldb_path": str(self.sasldb),
            "sasl_mech_list": "PLAIN",
            "autocreate_quota": "0",
            "munge8bit": "no",      # keep 8-bit header octets as they are
            "failedloginpause": "0",  # no 3 s pause after a failed login
            "syslog_prefix": f"submitd-e2e-cyrus-{self.port}",
        }
        if self.tls:
            settings["tls_server_cert"] = f"{d}/cert.pem"
            settings["tls_server_key"] = f"{d}/key.pem"
        settings.update(self.imapd_conf_extra)
        self.conf.write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
        self.cyrus_conf.write_text(CYRUS_CONF.format(conf=self.conf, imapd=imapd,
                                                     host=self.host, port=self.port))
        os.chmod(self.conf, 0o644)
        os.chmod(self.cyrus_conf, 0o644)
        self.sasldb.unlink(missing_ok=True)
        for user, password in self.users.items():
            r = run([SASLPASSWD2, "-p", "-f", self.sasldb, "-c", "-u", self.servername, user],
                    input=password)
            assert r.returncode == 0, f"saslpasswd2 {user}: {r.stdout}{r.stderr}"
        os.chown(self.sasldb, self.uid, self.gid)
        os.chmod(self.sasldb, 0o640)

    def start(self) -> "CyrusImap":
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self._write(self.imapd)
            self.master_log.unlink(missing_ok=True)
            self._popen([CYRUS_MASTER, "-C", self.conf, "-M", self.cyrus_conf,
                         "-p", self.dir / "master.pid", "-L", self.master_log])
            if self._wait_ready():
                return self
            self.stop()
        raise AssertionError(f"Cyrus did not start:\n{self.log_text()}")

    def _greeting_ok(self, line: bytes) -> bool:
        return line.startswith(b"* OK") and self.servername.encode() in line

    def log_text(self) -> str:
        if self._final_log is not None:
            return self._final_log
        parts = []
        for path in [self.master_log, self.dir / "stdout.log"] + sorted(
                (self.dir / "config" / "log").glob("*/*")):
            try:
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if text:
                parts.append(f"==> {path.relative_to(self.dir)} <==\n{text}")
        return "\n".join(parts)

    # URLAUTH ------------------------------------------------------------------
    def genurlauth(self, user: str, password: str, url: str, access: str | None = None) -> str:
        """GENURLAUTH "<url>;urlauth=<access>" INTERNAL as user (access:
        submit+<user> by default): the URL the server answers, with its
        ":internal:<token>"."""
        if access is None:
            access = f"{SUBMIT_USER}+{user}"
        with self.session(user, password) as imap:
            typ, data = imap._simple_command("GENURLAUTH", imap_quote(f"{url};urlauth={access}"),
                                             "INTERNAL")
            assert typ == "OK", f"GENURLAUTH: {typ} {data}"
            _, data = imap._untagged_response(typ, data, "GENURLAUTH")
            assert data and data[0], f"no GENURLAUTH response: {data}"
            return _unquote(data[0])

    def resetkey(self, user: str, password: str, mailbox: str = "INBOX") -> None:
        """RESETKEY <mailbox>: every URL generated for it so far stops working."""
        with self.session(user, password) as imap:
            typ, data = imap._simple_command("RESETKEY", imap_quote(mailbox))
            assert typ == "OK", f"RESETKEY: {typ} {data}"

    def urlfetch(self, user: str, password: str, url: str) -> bytes | None:
        """URLFETCH "<url>" as user: the octets, or None for NIL."""
        with self.session(user, password) as imap:
            typ, data = imap._simple_command("URLFETCH", imap_quote(url))
            assert typ == "OK", f"URLFETCH: {typ} {data}"
            _, data = imap._untagged_response(typ, data, "URLFETCH")
            for item in data:
                if isinstance(item, tuple):
                    return item[1]
            for item in data:
                if item and item.rstrip().upper().endswith(b"NIL"):
                    return None
            raise AssertionError(f"unexpected URLFETCH response: {data}")


# ------------------------------------------------------------------------------
# Dovecot

DOVECOT_CONF = """\
# submitd e2e: a private Dovecot (no system configuration is read)
instance_name = {instance}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
debug_log_path = {d}/dovecot.log
auth_verbose = yes
protocols = imap
listen = {host}
shutdown_clients = yes
login_greeting = {greeting}

{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *
# No delay after a failed login, and no growing penalty for 127.0.0.1 (the
# auth process cannot reach anvil's penalty socket: penalties are off).
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

passdb {{
  driver = passwd-file
  master = yes
  pass = yes
  args = scheme=PLAIN {d}/master-users
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={d}/mail/%u
}}
mail_location = maildir:~/Maildir

service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{extra}
"""


class DovecotImap(ImapServer):
    """A private Dovecot 2.3 (`dovecot -F -c <conf>`, its own base_dir,
    state_dir and log file) with only an imap listener on 127.0.0.1:port;
    users alice and bob in a passwd-file ({PLAIN}); the master user submit
    (`alice*submit` / submit-secret logs in as alice); mail in maildirs
    under the private directory, owned by `nobody`. STARTTLS with the test
    certificate `a` when certs are given (plaintext LOGIN is allowed
    anyway)."""

    kind = "dovecot"
    MAIL_USER = "nobody"

    @staticmethod
    def require() -> None:
        """Skips (fails under SUBMITD_E2E_STRICT=1) when something is missing."""
        if not os.access(DOVECOT, os.X_OK):
            skip_or_fail(f"{DOVECOT} is missing (install dovecot-core)")
        if not os.path.exists(DOVECOT_IMAP):
            skip_or_fail("Dovecot's imap is missing (install dovecot-imapd)")
        _need_root("Dovecot")

    def __init__(self, certs: Certs | None = None, extra_conf: str = ""):
        self.require()
        super().__init__(certs, "submitd-e2e-dovecot-")
        self.extra_conf = extra_conf
        self.conf = self.dir / "dovecot.conf"
        self.log_path = self.dir / "dovecot.log"
        pw = pwd.getpwnam(self.MAIL_USER)
        self.mail_uid, self.mail_gid = pw.pw_uid, pw.pw_gid
        (self.dir / "mail").mkdir(mode=0o700)
        os.chown(self.dir / "mail", self.mail_uid, self.mail_gid)
        (self.dir / "passwd").write_text(
            "".join(f"{u}:{{PLAIN}}{p}\n" for u, p in USERS.items()))
        (self.dir / "master-users").write_text(f"{SUBMIT_USER}:{{PLAIN}}{SUBMIT_PASSWORD}\n")
        for f in ("passwd", "master-users"):
            os.chmod(self.dir / f, 0o644)  # read by the auth process (user dovecot)

    def _write(self) -> None:
        if self.tls:
            ssl = (f"ssl = yes\nssl_cert = <{self.dir}/cert.pem\n"
                   f"ssl_key = <{self.dir}/key.pem")
        else:
            ssl = "ssl = no"
        self.greeting = f"submitd-e2e-dovecot-{self.token} ready"
        self.conf.write_text(DOVECOT_CONF.format(
            d=self.dir, host=self.host, port=self.port, ssl=ssl, greeting=self.greeting,
            instance=f"submitd-e2e-dovecot-{self.port}", mail_uid=self.mail_uid,
            mail_gid=self.mail_gid, extra=self.extra_conf))

    def start(self) -> "DovecotImap":
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self._write()
            self._popen([DOVECOT, "-F", "-c", self.conf])
            if self._wait_ready():
                return self
            self.stop()
        raise AssertionError(f"Dovecot did not start:\n{self.log_text()}")

    def _greeting_ok(self, line: bytes) -> bool:
        return line.startswith(b"* OK") and self.greeting.encode() in line

    def log_text(self) -> str:
        if self._final_log is not None:
            return self._final_log
        parts = []
        for path in (self.dir / "stdout.log", self.log_path):
            try:
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if text:
                parts.append(f"==> {path.name} <==\n{text}")
        return "\n".join(parts)

    def master_fetch(self, user: str, uid: int, mailbox: str = "INBOX",
                     uidvalidity: int | None = None) -> bytes:
        """Logs in as `user*submit` with the master password, EXAMINEs the
        mailbox (checks UIDVALIDITY when given) and returns UID FETCH
        BODY.PEEK[] of uid."""
        with self.session(f"{user}*{SUBMIT_USER}", SUBMIT_PASSWORD) as imap:
            return self._fetch_body(imap, uid, mailbox, uidvalidity)


# ------------------------------------------------------------------------------
# fixtures


class _LogSections:
    """Attaches the logs of a failing test's IMAP servers to its report
    (registered as a plugin by the fixtures: conftest's hook knows nothing
    of them)."""

    NAME = "submitd-e2e-imap-logs"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        if rep.failed:
            for i, s in enumerate(getattr(item, "_imap_instances", [])):
                rep.sections.append((f"{s.kind}[{i}] log ({s.dir})", _cut(s.log_text())))


def _instances(request) -> list:
    pm = request.config.pluginmanager
    if pm.get_plugin(_LogSections.NAME) is None:
        pm.register(_LogSections(), _LogSections.NAME)
    if not hasattr(request.node, "_imap_instances"):
        request.node._imap_instances = []
    return request.node._imap_instances


@pytest.fixture
def cyrus_imap(request, certs):
    """Factory: cyrus_imap(tls=True, imapd_conf={...}) starts a private
    Cyrus IMAP (see CyrusImap) and returns it; stopped and removed at
    teardown."""
    instances = _instances(request)
    mine: list[CyrusImap] = []

    def factory(*, tls: bool = True, imapd_conf: dict | None = None) -> CyrusImap:
        s = CyrusImap(certs if tls else None, imapd_conf)
        instances.append(s)
        mine.append(s)
        return s.start()

    yield factory
    for s in mine:
        s.stop()
        s.cleanup()


@pytest.fixture
def dovecot_imap(request, certs):
    """Factory: dovecot_imap(tls=True, extra_conf="") starts a private
    Dovecot (see DovecotImap) and returns it; stopped and removed at
    teardown."""
    instances = _instances(request)
    mine: list[DovecotImap] = []

    def factory(*, tls: bool = True, extra_conf: str = "") -> DovecotImap:
        s = DovecotImap(certs if tls else None, extra_conf)
        instances.append(s)
        mine.append(s)
        return s.start()

    yield factory
    for s in mine:
        s.stop()
        s.cleanup()
