// Command line parsing; see options.hpp.
#include "loadgen/options.hpp"

#include <fmt/format.h>
#include <charconv>
#include <limits>
#include <string_view>

namespace submitd::bench {

namespace {

template <class T>
bool parse_number(std::string_view s, T min, T max, T& out) {
    T v{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) return false;
    out = v;
    return true;
}

}  // namespace

std::string usage_text() {
    return R"(usage: submitd-bench-load --host 127.0.0.1 --port N [options]

SMTP submission load generator: one process, one coroutine per connection.

  --host ADDR              server address (default 127.0.0.1)
  --port N                 server port (required)
  --tls none|starttls|implicit
                           TLS 1.2 or later (default none); every connection does
                           a full handshake (no session resumption), as a new
                           client would
  --ca FILE                verify the server's certificate against FILE (and its
                           name against --server-name, else --host); without it
                           the certificate is not verified
  --server-name NAME       SNI to send
  --user U --password P    AUTH PLAIN with an initial response after EHLO (after
                           STARTTLS with --tls starttls); without: no AUTH
  --connections C          concurrent connections (default 1)
  --messages-per-conn M    messages per connection, then QUIT and reconnect
                           (default 1: a new connection per message)
  --messages T             stop after T messages in total (default 1000)
  --duration S             or: start no new message after S seconds
  --rcpts R                recipients per message, rcpt-N@example.net (default 1)
  --size BYTES             message size including headers (default 2048)
  --pipelining             send MAIL, RCPT... and DATA in one write (RFC 2920);
                           the server must advertise PIPELINING
  --idle N                 idle mode: open N sessions (greeting, STARTTLS, EHLO,
                           AUTH; at most 200 handshakes at a time), print
                           "ready N" on stdout ("failed K" on stderr), hold them
                           until stdin reaches EOF or SIGTERM/SIGINT, then QUIT
  --threads N              event-loop threads (default 1)
  --json                   print one JSON object at the end instead of text
  --helo NAME              EHLO name (default loadgen.example.org)
  --from ADDR              envelope sender (default loadgen@example.org)
  --help                   this text

Every reply code is checked (220 greeting, 250 EHLO, 220 STARTTLS, 235 AUTH,
250 MAIL and RCPT, 354 DATA, 250 after the body); a wrong code, a broken
connection or a step taking over 120 s fails the message and the connection is
replaced. Message latency runs from sending MAIL to the final 250; session
latency (with --messages-per-conn 1) from connect to the final 250.
SIGINT or SIGTERM ends a load run early: no new message is started, the
report covers those done, and the exit status is 1. A second signal exits at
once. Exit status: 0 when no message failed, 1 when some did (or the run was
cut short), 2 on a usage error.
)";
}

parsed_options parse_options(int argc, char** argv) {
    parsed_options r;
    options o;
    bool have_port = false, have_messages = false, have_duration = false;
    bool have_password = false, load_flags = false;
    auto fail = [&r](std::string msg) {
        r.error = std::move(msg);
        return r;
    };
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        std::string_view value;
        bool has_value = false;
        if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string_view::npos) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
            has_value = true;
        }
        auto take = [&](std::string_view& out) {
            if (has_value) {
                out = value;
                return true;
            }
            if (i + 1 >= argc) return false;
            out = argv[++i];
            return true;
        };
        auto is_switch = [&] { return !has_value; };
        std::string_view v;
        if (flag == "--help" || flag == "-h") {
            r.help = true;
            return r;
        } else if (flag == "--pipelining" && is_switch()) {
            o.pipelining = true;
            load_flags = true;
        } else if (flag == "--json" && is_switch()) {
            o.json = true;
        } else if (flag == "--pipelining" || flag == "--json") {
            return fail(fmt::format("{} takes no value", flag));
        } else if (!take(v)) {
            return fail(fmt::format("unknown flag or missing value: {}", flag));
        } else if (flag == "--host") {
            o.host = v;
        } else if (flag == "--port") {
            if (!parse_number<std::uint16_t>(v, 1, 65535, o.port)) return fail("bad --port");
            have_port = true;
        } else if (flag == "--tls") {
            if (v == "none") {
                o.tls = tls_mode::none;
            } else if (v == "starttls") {
                o.tls = tls_mode::starttls;
            } else if (v == "implicit") {
                o.tls = tls_mode::implicit;
            } else {
                return fail("--tls is none, starttls or implicit");
            }
        } else if (flag == "--ca") {
            o.ca_file = v;
        } else if (flag == "--server-name") {
            o.server_name = v;
        } else if (flag == "--user") {
            o.user = v;
        } else if (flag == "--password") {
            o.password = v;
            have_password = true;
        } else if (flag == "--connections") {
            if (!parse_number(v, 1u, 100000u, o.connections)) return fail("bad --connections");
        } else if (flag == "--messages-per-conn") {
            if (!parse_number<std::uint64_t>(v, 1, std::numeric_limits<std::uint32_t>::max(),
                                             o.messages_per_conn))
                return fail("bad --messages-per-conn");
            load_flags = true;
        } else if (flag == "--messages") {
            if (!parse_number<std::uint64_t>(v, 1, std::uint64_t{1} << 40, o.messages))
                return fail("bad --messages");
            have_messages = true;
        } else if (flag == "--duration") {
            if (!parse_number(v, 0.001, 1e7, o.duration_s)) return fail("bad --duration");
            have_duration = true;
        } else if (flag == "--rcpts") {
            if (!parse_number(v, 1u, 10000u, o.rcpts)) return fail("bad --rcpts");
            load_flags = true;
        } else if (flag == "--size") {
            if (!parse_number<std::size_t>(v, 1, std::size_t{1} << 30, o.size))
                return fail("bad --size");
            load_flags = true;
        } else if (flag == "--idle") {
            if (!parse_number(v, 1u, 1000000u, o.idle)) return fail("bad --idle");
        } else if (flag == "--threads") {
            if (!parse_number(v, 1u, 256u, o.threads)) return fail("bad --threads");
        } else if (flag == "--helo") {
            o.helo = v;
        } else if (flag == "--from") {
            o.from = v;
        } else {
            return fail(fmt::format("unknown flag: {}", flag));
        }
    }
    if (!have_port) return fail("--port is required");
    if (have_messages && have_duration) return fail("--messages and --duration exclude each other");
    if (o.user.empty() != !have_password) return fail("--user and --password go together");
    if (o.tls == tls_mode::none && (!o.ca_file.empty() || !o.server_name.empty()))
        return fail("--ca and --server-name need --tls");
    if (o.idle > 0 && (have_messages || have_duration || load_flags))
        return fail("--idle takes no message flags");
    if (o.threads > o.connections && o.idle == 0) o.threads = o.connections;
    if (o.idle > 0 && o.threads > o.idle) o.threads = o.idle;
    r.opts = std::move(o);
    return r;
}

}  // namespace submitd::bench
