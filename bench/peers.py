"""The endpoints bench/run measures, each a private instance on 127.0.0.1:

  Sink     Postfix's smtp-sink: the common relay, and measured directly as
           the limit (what an SMTP endpoint costs on this machine).
  Submitd  build/submitd, relaying to the sink.
  Dovecot  Dovecot's submission service (2.3), relaying to the sink.
  Postfix  Postfix's smtpd as a submission service in its no-queue form
           (smtpd_proxy_filter = the sink), with Dovecot SASL from a private
           auth-only Dovecot instance counted as part of it.

Each peer runs under its own session (process group) so that its whole
process tree can be measured and torn down; configuration and state live in
a private directory under the run's temporary directory. Ports are free ports
picked at start; readiness is an SMTP greeting (or a TLS handshake and
greeting), never a fixed sleep.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

HOST = "127.0.0.1"
SERVER_NAME = "bench.test"
USER = "bench@bench.test"
PASSWORD = "bench-password"
START_TIMEOUT = 60.0


class PeerError(RuntimeError):
    pass


# --------------------------------------------------------------------------
# helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def raise_nofile():
    """preexec_fn: the hard limit of open files for the daemon (10,000 idle
    sessions need as many descriptors, twice over for a proxy)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def greeting(port: int, tls_ctx: ssl.SSLContext | None = None, timeout=2.0) -> str:
    """Connects, reads the whole greeting and says QUIT. Raises OSError (or
    an ssl error) when the port is not (yet) serving."""
    with socket.create_connection((HOST, port), timeout) as raw:
        sock = tls_ctx.wrap_socket(raw, server_hostname=SERVER_NAME) if tls_ctx else raw
        buf = b""
        while True:
            data = sock.recv(4096)
            if not data:
                raise ConnectionError("closed before the greeting")
            buf += data
            lines = buf.split(b"\r\n")
            done = [l for l in lines[:-1] if len(l) >= 4 and l[3:4] == b" "]
            if done:
                break
        try:
            sock.sendall(b"QUIT\r\n")
            sock.recv(4096)
        except OSError:
            pass
        text = buf.decode(errors="replace")
        if not text.startswith("220"):
            raise ConnectionError(f"greeting is not 220: {text.strip()!r}")
        return text


def tls_client_context(ca: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    return ctx


def make_cert(d: Path) -> tuple[Path, Path]:
    """A self-signed ECDSA P-256 certificate for bench.test."""
    cert, key = d / "cert.pem", d / "key.pem"
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30",
         "-subj", f"/CN={SERVER_NAME}", "-addext", f"subjectAltName=DNS:{SERVER_NAME}"],
        capture_output=True, text=True)
    if r.returncode != 0:
        raise PeerError(f"openssl req failed: {r.stderr}")
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)  # a throwaway key the daemons' users must read
    return cert, key


# --------------------------------------------------------------------------
# /proc accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'
    rest = s[s.rindex(")") + 2:].split()
    return rest  # rest[0] is field 3 (state)


def process_table() -> dict[int, int]:
    """pid -> ppid for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _read_stat(int(name))
        if st is not None:
            table[int(name)] = int(st[1])
    return table


def tree(roots: list[int]) -> list[int]:
    """The roots and all their descendants that are alive now."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, ppid in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [r for r in roots if r in table]
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _start_time(pid: int) -> int | None:
    st = _read_stat(pid)
    return int(st[19]) if st is not None else None  # field 22, starttime


def _with_start(pids: list[int]) -> list[tuple[int, int]]:
    return [(pid, t) for pid in pids if (t := _start_time(pid)) is not None]


def cpu_seconds(roots: list[int]) -> float:
    """utime + stime of every process of the trees, plus cutime + cstime
    (the children that have exited and been waited for). Differences of this
    between two instants are the CPU the trees used in between, as long as
    no process of the tree is reparented elsewhere."""
    ticks = 0
    for pid in tree(roots):
        st = _read_stat(pid)
        if st is None:
            continue
        # fields 14..17 (utime stime cutime cstime) are rest[11..14]
        ticks += sum(int(x) for x in st[11:15])
    return ticks / CLK_TCK


def pss_kib(roots: list[int]) -> tuple[int, int]:
    """(PSS in KiB summed over the trees' processes, number of processes)."""
    total, n = 0, 0
    for pid in tree(roots):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        n += 1
                        break
        except OSError:
            continue
    return total, n


def pss_by_name(roots: list[int]) -> dict[str, list[int]]:
    """process name -> [processes, PSS KiB] over the trees (for the JSON)."""
    out: dict[str, list[int]] = {}
    for pid in tree(roots):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss = next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
        e = out.setdefault(comm, [0, 0])
        e[0] += 1
        e[1] += pss
    return out


# --------------------------------------------------------------------------
# peers


class Peer:
    name = "peer"
    label = "peer"
    auth = True        # the loadgen authenticates (AUTH PLAIN)
    tls = True         # offers STARTTLS on `port` and implicit TLS on `tls_port`

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.procs: list[subprocess.Popen] = []
        self.port: int | None = None
        self.tls_port: int | None = None
        self._logs: list = []

    # to be provided
    def start(self):
        raise NotImplementedError

    def log_tail(self, n=4000) -> str:
        return ""

    # common
    def pick_ports(self):
        """Free ports, picked once: a restarted peer listens where it did."""
        if self.port is None:
            self.port, self.tls_port = free_port(), free_port()

    def roots(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)

    def cpu(self) -> float:
        return cpu_seconds(self.roots())

    def pss(self) -> tuple[int, int]:
        return pss_kib(self.roots())

    def spawn(self, argv: list[str], log: str, cwd: Path | None = None) -> subprocess.Popen:
        out = open(self.dir / log, "ab")
        self._logs.append(out)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             cwd=cwd or self.dir, start_new_session=True,
                             preexec_fn=raise_nofile)
        self.procs.append(p)
        return p

    def wait_ready(self, ca: Path | None):
        deadline = time.monotonic() + START_TIMEOUT
        ports = [(self.port, None)]
        if self.tls and self.tls_port:
            ports.append((self.tls_port, tls_client_context(ca)))
        last = None
        for port, ctx in ports:
            while True:
                if not self.alive():
                    raise PeerError(f"{self.label} exited while starting:\n{self.log_tail()}")
                try:
                    greeting(port, ctx)
                    break
                except (OSError, ssl.SSLError) as e:
                    last = e
                if time.monotonic() > deadline:
                    raise PeerError(f"{self.label} does not greet on port {port} ({last}):\n"
                                    f"{self.log_tail()}")
                time.sleep(0.05)

    def stop(self):
        """Stops the daemons gracefully, then kills whatever of their trees
        is left, by pid (checking the start time, so that a pid reused since
        is left alone)."""
        before = _with_start(tree([p.pid for p in self.procs if p.poll() is None]))
        self._graceful_stop()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        left = before + _with_start(tree([p.pid for p in self.procs if p.poll() is None]))
        for pid, start in left:
            if _start_time(pid) != start:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        for f in self._logs:
            f.close()
        self._logs = []

    def _graceful_stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)


def _tail(path: Path, n=4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


class Sink(Peer):
    name = "sink"
    label = "smtp-sink"
    auth = False
    tls = False

    def start(self, ca=None):
        self.port = self.port or free_port()
        # -u: drop to nobody; -m: simultaneous sessions (default 256);
        # -t: command timeout (idle sessions are held for minutes);
        # last argument: the listen backlog. No -c (counters), no dumping.
        self.spawn(["/usr/sbin/smtp-sink", "-u", "nobody", "-h", "sink.bench.test",
                    "-m", "30000", "-t", "3600", f"{HOST}:{self.port}", "4096"],
                   "smtp-sink.log")
        self.wait_ready(ca)
        return self

    def log_tail(self, n=4000):
        return _tail(self.dir / "smtp-sink.log", n)

    def _graceful_stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


class Submitd(Peer):
    name = "submitd"
    label = "submitd"

    def __init__(self, workdir: Path, binary: Path, sink_port: int, cert: Path, key: Path,
                 workers: int, log_level: str = "warn"):
        super().__init__(workdir)
        self.binary = binary
        self.sink_port = sink_port
        self.cert, self.key = cert, key
        self.workers = workers
        self.log_level = log_level

    def config(self) -> str:
        spool = self.dir / "spool"
        spool.mkdir(exist_ok=True)
        os.chmod(spool, 0o1777)
        passwd = self.dir / "passwd"
        passwd.write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        os.chmod(passwd, 0o644)
        sections = [
            ("[server]", {"hostname": "submitd.bench.test", "workers": self.workers,
                          "user": "nobody", "group": "nogroup", "shutdown_grace": 1.0,
                          "log_level": self.log_level}),
            ("[[listener]]", {"name": "submission", "address": f"{HOST}:{self.port}",
                              "tls": "starttls"}),
            ("[[listener]]", {"name": "submissions", "address": f"{HOST}:{self.tls_port}",
                              "tls": "implicit"}),
            ("[tls]", {"certificate": str(self.cert), "key": str(self.key)}),
            ("[auth]", {"mechanisms": ["PLAIN", "LOGIN"], "allow_plaintext_auth": True}),
            ("[passdb]", {"driver": "passwd-file", "path": str(passwd)}),
            ("[limits]", {"max_connections": 100000, "max_connections_per_ip": 100000}),
            ("[[relay]]", {"address": f"{HOST}:{self.sink_port}", "tls": "none"}),
            ("[submission]", {"spool_dir": str(spool)}),
        ]
        out = ["# written by bench/run"]
        for head, kv in sections:
            out.append("")
            out.append(head)
            out.extend(f"{k} = {_toml(v)}" for k, v in kv.items())
        return "\n".join(out) + "\n"

    def start(self, ca=None):
        self.pick_ports()
        conf = self.dir / "submitd.toml"
        conf.write_text(self.config())
        self.spawn([str(self.binary), "--config", str(conf)], "submitd.log")
        self.wait_ready(ca)
        return self

    def log_tail(self, n=4000):
        return _tail(self.dir / "submitd.log", n)


DOVECOT_SUBMISSION_CONF = """\
# written by bench/run: Dovecot's submission service, tuned (see bench/README.md)
instance_name = {instance}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = submission
listen = {host}
hostname = dovecot.bench.test
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 10M
auth_cache_ttl = 1 hour
auth_failure_delay = 0
mail_max_userip_connections = 0
default_process_limit = {process_limit}
default_client_limit = {client_limit}
default_vsz_limit = 1G
submission_relay_host = {host}
submission_relay_port = {sink_port}
submission_relay_trusted = no
submission_max_mail_size = 50M
mail_location = maildir:{d}/home/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/home
}}
service submission-login {{
  inet_listener submission {{
    port = {port}
  }}
  inet_listener submissions {{
    port = {tls_port}
    ssl = yes
  }}
  service_count = 0
  client_limit = 1000
  process_min_avail = {cores}
  process_limit = {login_process_limit}
  vsz_limit = 1G
}}
service submission {{
  service_count = 0
  client_limit = 1000
  process_limit = {login_process_limit}
  vsz_limit = 1G
}}
service auth {{
  client_limit = {client_limit}
}}
service anvil {{
  client_limit = {client_limit}
}}
"""

DOVECOT_AUTH_CONF = """\
# written by bench/run: an auth-only Dovecot instance for Postfix's SASL
instance_name = {instance}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = none
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 10M
auth_cache_ttl = 1 hour
auth_failure_delay = 0
default_process_limit = {process_limit}
default_client_limit = {client_limit}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/home
}}
service auth {{
  client_limit = {client_limit}
  unix_listener {d}/auth-postfix {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
service anvil {{
  client_limit = {client_limit}
}}
"""


class _DovecotBase(Peer):
    conf_template = ""

    def __init__(self, workdir: Path, cert: Path, key: Path, sink_port: int, cores: int,
                 max_sessions: int):
        super().__init__(workdir)
        self.cert, self.key = cert, key
        self.sink_port = sink_port
        self.cores = cores
        self.max_sessions = max_sessions

    def write_conf(self) -> Path:
        d = self.dir
        for sub in ("run", "state", "home"):
            (d / sub).mkdir(exist_ok=True)
            os.chmod(d / sub, 0o755)
        shutil.chown(d / "home", "nobody", "nogroup")
        (d / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        os.chmod(d / "passwd", 0o644)
        # fds: every session holds a client and a relay connection
        client_limit = max(2000, 2 * self.max_sessions + 1000)
        conf = self.conf_template.format(
            instance=f"bench-{self.name}-{os.getpid()}", d=d, host=HOST, cert=self.cert,
            key=self.key, port=self.port, tls_port=self.tls_port, sink_port=self.sink_port,
            cores=self.cores, process_limit=max(1000, self.max_sessions // 500 + 100),
            login_process_limit=max(100, self.max_sessions // 1000 + 20),
            client_limit=client_limit)
        path = d / "dovecot.conf"
        path.write_text(conf)
        return path

    def start(self, ca=None):
        self.pick_ports()
        conf = self.write_conf()
        self.spawn(["/usr/sbin/dovecot", "-F", "-c", str(conf)], "dovecot.out")
        self._wait(ca)
        return self

    def _wait(self, ca):
        self.wait_ready(ca)

    def log_tail(self, n=4000):
        return _tail(self.dir / "dovecot.out", 1000) + _tail(self.dir / "dovecot.log", n)


class Dovecot(_DovecotBase):
    name = "dovecot"
    label = "Dovecot"
    conf_template = DOVECOT_SUBMISSION_CONF


class DovecotAuth(_DovecotBase):
    name = "dovecot-auth"
    label = "Dovecot auth (for Postfix)"
    conf_template = DOVECOT_AUTH_CONF
    auth_socket: Path

    def _wait(self, ca):
        self.auth_socket = self.dir / "auth-postfix"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not self.alive():
                raise PeerError(f"{self.label} exited while starting:\n{self.log_tail()}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(2)
                    s.connect(str(self.auth_socket))
                    s.sendall(b"VERSION\t1\t2\nCPID\t1\n")
                    if s.recv(4096).startswith(b"VERSION"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PeerError(f"{self.label}: no auth socket:\n{self.log_tail()}")
            time.sleep(0.05)


POSTFIX_MASTER_CF = """\
# written by bench/run: smtpd as a no-queue submission service
{host}:{port} inet n - n - {maxproc} smtpd
{host}:{tls_port} inet n - n - {maxproc} smtpd -o smtpd_tls_wrappermode=yes
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
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


class Postfix(Peer):
    name = "postfix"
    label = "Postfix"

    def __init__(self, workdir: Path, cert: Path, key: Path, sink_port: int, cores: int,
                 max_sessions: int):
        super().__init__(workdir)
        self.cert, self.key = cert, key
        self.sink_port = sink_port
        self.max_sessions = max_sessions
        self.auth_dovecot = DovecotAuth(workdir / "dovecot-auth", cert, key, sink_port, cores,
                                        max_sessions)
        self.conf = self.dir / "conf"

    def main_cf(self) -> dict:
        d = self.dir
        return {
            "compatibility_level": "3.6",
            "queue_directory": f"{d}/queue", "data_directory": f"{d}/data",
            "mail_owner": "postfix", "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test", "mydomain": "bench.test",
            "myorigin": "postfix.bench.test", "mydestination": "",
            "inet_interfaces": HOST, "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.1/32",
            "maillog_file": f"{d}/maillog", "maillog_file_prefixes": str(d),
            "alias_maps": "", "alias_database": "", "biff": "no",
            "default_transport": "discard", "local_transport": "discard",
            "relay_transport": "discard",
            # submission: Dovecot SASL, only authenticated clients relay
            "smtpd_sasl_auth_enable": "yes", "smtpd_sasl_type": "dovecot",
            "smtpd_sasl_path": str(self.auth_dovecot.dir / "auth-postfix"),
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_tls_auth_only": "no",
            "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
            "smtpd_recipient_restrictions": "",
            "smtpd_client_restrictions": "", "smtpd_helo_restrictions": "",
            "smtpd_sender_restrictions": "",
            # no-queue: each message is proxied before-queue to the sink, whose
            # 250 is the one the client gets
            "smtpd_proxy_filter": f"{HOST}:{self.sink_port}",
            "smtpd_proxy_timeout": "300s",
            # TLS, with a session cache (tlsmgr)
            "smtpd_tls_cert_file": str(self.cert), "smtpd_tls_key_file": str(self.key),
            "smtpd_tls_security_level": "may",
            "smtpd_tls_session_cache_database": "btree:${data_directory}/smtpd_scache",
            "smtpd_tls_loglevel": "0",
            "smtpd_tls_received_header": "no",
            # at its best: no limits, no DNS
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_client_message_rate_limit": "0",
            "smtpd_client_recipient_rate_limit": "0",
            "smtpd_client_new_tls_session_rate_limit": "0",
            "smtpd_client_auth_rate_limit": "0",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "smtpd_delay_reject": "yes",
            "default_process_limit": str(max(200, self.max_sessions + 100)),
            "message_size_limit": "52428800",
            "smtpd_soft_error_limit": "1000", "smtpd_hard_error_limit": "1000",
            "smtpd_junk_command_limit": "100000",
            "smtpd_recipient_limit": "1000",
            "smtpd_timeout": "3600s",
            # fewer forks: an smtpd process serves up to 10,000 sessions (100 by default)
            "max_use": "10000",
        }

    def write_conf(self):
        d = self.dir
        self.conf.mkdir(exist_ok=True)
        (d / "queue").mkdir(exist_ok=True)
        os.chmod(d / "queue", 0o755)
        (d / "data").mkdir(exist_ok=True)
        os.chmod(d / "data", 0o700)
        shutil.chown(d / "data", "postfix", "postfix")
        (self.conf / "main.cf").write_text(
            "".join(f"{k} = {v}\n" for k, v in self.main_cf().items()))
        (self.conf / "master.cf").write_text(POSTFIX_MASTER_CF.format(
            host=HOST, port=self.port, tls_port=self.tls_port,
            maxproc=max(200, self.max_sessions + 100)))

    def start(self, ca=None):
        self.auth_dovecot.start(ca)
        self.pick_ports()
        self.write_conf()
        r = subprocess.run(["/usr/sbin/postfix", "-c", str(self.conf), "check"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise PeerError(f"postfix check: {r.stdout}{r.stderr}")
        self.spawn(["/usr/sbin/postfix", "-c", str(self.conf), "start-fg"], "start-fg.log")
        self.wait_ready(ca)
        return self

    def roots(self):
        return super().roots() + self.auth_dovecot.roots()

    def alive(self):
        return super().alive() and self.auth_dovecot.alive()

    def log_tail(self, n=4000):
        return (_tail(self.dir / "start-fg.log", 1000) + _tail(self.dir / "maillog", n)
                + self.auth_dovecot.log_tail(1000))

    def _graceful_stop(self):
        if any(p.poll() is None for p in self.procs):
            subprocess.run(["/usr/sbin/postfix", "-c", str(self.conf), "stop"],
                           capture_output=True)

    def stop(self):
        try:
            super().stop()
        finally:
            self.auth_dovecot.stop()
