// Scripted dialogs against the pre-login state machine: every reply code and
// enhanced code the issue names, the STARTTLS injection rule, pipelining into
// the handoff, and the same dialog fed whole, split and byte by byte.
#include "login/login_machine.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base64.hpp"
#include "core/log.hpp"

namespace submitd::login {
namespace {

// The machine logs each bad command; keep the test output readable.
const bool quiet = (core::set_log_level(core::log_level::warn), true);

login_settings make_settings() {
    login_settings s;
    s.hostname = "mx.test";
    s.banner = "submitd";
    s.mechanisms = {"PLAIN", "LOGIN"};
    s.max_command_line = 512;
    s.max_auth_line = 1024;
    s.max_bad_commands = 5;
    s.max_failures = 2;
    s.max_message_size = 1000;
    return s;
}

client_facts facts() {
    return {"s1", "submission", "192.0.2.1", 1234, "127.0.0.1", 587};
}

std::string plain(std::string_view user, std::string_view pass) {
    std::string m;
    m.push_back('\0');
    m.append(user);
    m.push_back('\0');
    m.append(pass);
    return core::base64_encode(m);
}

/// Feeds `in` whole; returns the action and leaves the unconsumed rest in `rest`.
struct harness {
    login_settings settings = make_settings();
    login_machine m;
    explicit harness(bool tls = false) : m(settings, facts(), tls) {}
    harness(login_settings s, bool tls) : settings(std::move(s)), m(settings, facts(), tls) {}

    action feed(std::string_view in, std::string* rest = nullptr) {
        std::size_t consumed = 0;
        action a = m.on_input(in, consumed);
        if (rest != nullptr) *rest = std::string(in.substr(consumed));
        return a;
    }
    std::string out() {
        std::string o = std::move(m.output());
        m.output().clear();
        return o;
    }
};

TEST(login_machine, greeting) {
    harness h;
    h.m.greet();
    EXPECT_EQ(h.out(), "220 mx.test ESMTP submitd\r\n");
}

TEST(login_machine, ehlo_before_tls_offers_starttls_and_no_plaintext_auth) {
    harness h;
    EXPECT_EQ(h.feed("EHLO client.test\r\n"), action::need_input);
    EXPECT_EQ(h.out(),
              "250-mx.test\r\n250-PIPELINING\r\n250-SIZE "
              "1000\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-VRFY\r\n"
              "250 STARTTLS\r\n");
    EXPECT_EQ(h.feed("AUTH PLAIN " + plain("u", "p") + "\r\n"), action::need_input);
    EXPECT_EQ(h.out(), "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
}

TEST(login_machine, plaintext_auth_when_allowed) {
    auto s = make_settings();
    s.allow_plaintext_auth = true;
    harness h(s, false);
    h.feed("EHLO c\r\n");
    EXPECT_NE(h.out().find("250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"), std::string::npos);
}

TEST(login_machine, starttls_stops_reading_and_forgets_state) {
    harness h;
    h.feed("EHLO c\r\n");
    h.out();
    std::string rest;
    EXPECT_EQ(h.feed("STARTTLS\r\nNOOP\r\n", &rest), action::start_tls);
    EXPECT_EQ(h.out(), "220 2.0.0 Ready to start TLS\r\n");
    EXPECT_EQ(rest, "NOOP\r\n");  // left for the driver to drop, never executed
    h.m.on_tls_established("TLSv1.3", "TLS_AES_128_GCM_SHA256");
    // The EHLO state is forgotten: AUTH needs a new EHLO.
    h.feed("AUTH PLAIN " + plain("u", "p") + "\r\n");
    EXPECT_EQ(h.out(), "503 5.5.1 Send EHLO first\r\n");
    h.feed("EHLO c\r\n");
    EXPECT_EQ(h.out(),
              "250-mx.test\r\n250-PIPELINING\r\n250-SIZE "
              "1000\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-VRFY\r\n"
              "250 AUTH PLAIN LOGIN\r\n");
    h.feed("STARTTLS\r\n");
    EXPECT_EQ(h.out(), "502 5.5.1 TLS already active\r\n");
}

TEST(login_machine, starttls_with_arguments) {
    harness h;
    h.feed("STARTTLS now\r\n");
    EXPECT_EQ(h.out(), "501 5.5.4 Syntax: STARTTLS\r\n");
}

TEST(login_machine, mail_commands_need_auth) {
    harness h(true);
    for (const char* cmd : {"MAIL FROM:<a@b>", "RCPT TO:<a@b>", "DATA", "BDAT 0 LAST", "VRFY x"}) {
        h.feed(std::string(cmd) + "\r\n");
        EXPECT_EQ(h.out(), "530 5.7.0 Authentication required\r\n") << cmd;
        h.feed("EHLO c\r\n");  // a good command resets the bad-command count
        h.out();
    }
}

TEST(login_machine, bdat_before_auth_skips_its_chunk) {
    // RFC 3030 section 2: the octets after the BDAT line are the chunk, even
    // when BDAT is refused; however they arrive, none of them runs.
    const std::string chunk = "QUIT\r\nMAIL FROM:<a@b>\r\n";
    const std::string input =
        "BDAT " + std::to_string(chunk.size()) + " LAST\r\n" + chunk + "NOOP\r\n";
    for (std::size_t split = 0; split <= input.size(); ++split) {
        SCOPED_TRACE(split);
        harness h(true);
        h.feed(input.substr(0, split));
        // Within the BDAT line, its chunk or the NOOP line: the command deadline runs.
        EXPECT_EQ(h.m.in_command(), split > 0 && split < input.size() && split != input.size() - 6);
        h.feed(input.substr(split));
        EXPECT_EQ(h.out(), "530 5.7.0 Authentication required\r\n250 2.0.0 OK\r\n");
        EXPECT_FALSE(h.m.in_command());
    }
}

TEST(login_machine, bdat_before_auth_with_a_bad_size_closes) {
    for (const char* line :
         {"BDAT", "BDAT x", "BDAT -1", "BDAT 1e3 LAST", "BDAT 99999999999999999999999"}) {
        SCOPED_TRACE(line);
        harness h(true);
        EXPECT_EQ(h.feed(std::string(line) + "\r\nNOOP\r\n"), action::close);
        EXPECT_EQ(h.out(),
                  "501 5.5.4 Syntax: BDAT size [LAST]\r\n"
                  "421 4.7.0 mx.test Cannot find the end of the chunk, closing connection\r\n");
        EXPECT_EQ(h.m.close_reason(), "bad-bdat");
    }
}

TEST(login_machine, unknown_and_malformed_commands) {
    harness h;
    h.feed("FOO\r\n");
    EXPECT_EQ(h.out(), "500 5.5.1 Unknown command\r\n");
    h.feed("\r\n");
    EXPECT_EQ(h.out(), "500 5.5.2 Empty command\r\n");
    h.feed(std::string("NO\0OP\r\n", 7));
    EXPECT_EQ(h.out(), "500 5.5.2 Invalid command syntax\r\n");
}

TEST(login_machine, session_commands) {
    harness h;
    h.feed("NOOP\r\nRSET\r\nHELO c\r\nHELP\r\n");
    std::string o = h.out();
    EXPECT_EQ(o.substr(0, 45), "250 2.0.0 OK\r\n250 2.0.0 OK\r\n250 mx.test\r\n214 ");
    EXPECT_EQ(h.feed("QUIT\r\nNOOP\r\n"), action::close);
    EXPECT_EQ(h.out(), "221 2.0.0 Bye\r\n");
    EXPECT_EQ(h.m.close_reason(), "quit");
}

TEST(login_machine, ehlo_needs_a_domain) {
    harness h;
    h.feed("EHLO\r\n");
    EXPECT_EQ(h.out(), "501 5.5.4 Syntax: EHLO domain\r\n");
}

TEST(login_machine, auth_plain_initial_response_then_handoff_with_pipelined_input) {
    harness h(true);
    std::string rest;
    std::string in = "EHLO c\r\nAUTH PLAIN " + plain("alice", "secret") + "\r\nMAIL FROM:<a@b>\r\n";
    EXPECT_EQ(h.feed(in, &rest), action::authenticate);
    EXPECT_EQ(rest, "MAIL FROM:<a@b>\r\n");
    auto req = h.m.take_auth_request();
    EXPECT_EQ(req.credentials.authcid, "alice");
    EXPECT_EQ(req.credentials.password.view(), "secret");
    EXPECT_EQ(req.mechanism, "PLAIN");
    EXPECT_EQ(req.remote_ip, "192.0.2.1");
    h.out();
    EXPECT_EQ(h.m.on_auth_result({auth::auth_status::ok, "alice", {}, ""}), action::handoff);
    EXPECT_EQ(h.out(), "235 2.7.0 Authentication successful\r\n");
    auto handoff = h.m.take_handoff(rest);
    EXPECT_EQ(handoff.user, "alice");
    EXPECT_EQ(handoff.helo, "c");
    EXPECT_EQ(handoff.pending_input, "MAIL FROM:<a@b>\r\n");
    EXPECT_EQ(handoff.remote_ip, "192.0.2.1");
}

TEST(login_machine, auth_plain_challenge_and_empty_initial_response) {
    harness h(true);
    h.feed("EHLO c\r\nAUTH PLAIN\r\n");
    EXPECT_NE(h.out().find("334 \r\n"), std::string::npos);
    EXPECT_EQ(h.feed(plain("bob", "pw") + "\r\n"), action::authenticate);
    EXPECT_EQ(h.m.take_auth_request().credentials.authcid, "bob");

    harness g(true);
    g.feed("EHLO c\r\nAUTH PLAIN =\r\n");
    EXPECT_NE(g.out().find("501 5.5.2 Invalid authentication data\r\n"), std::string::npos);
}

TEST(login_machine, auth_login_dialog) {
    harness h(true);
    h.feed("EHLO c\r\n");
    h.out();
    h.feed("AUTH LOGIN\r\n");
    EXPECT_EQ(h.out(), "334 VXNlcm5hbWU6\r\n");
    h.feed(core::base64_encode("carol") + "\r\n");
    EXPECT_EQ(h.out(), "334 UGFzc3dvcmQ6\r\n");
    EXPECT_EQ(h.feed(core::base64_encode("pw") + "\r\n"), action::authenticate);
    auto req = h.m.take_auth_request();
    EXPECT_EQ(req.credentials.authcid, "carol");
    EXPECT_EQ(req.mechanism, "LOGIN");
}

TEST(login_machine, auth_errors) {
    harness h(true);
    h.feed("EHLO c\r\n");
    h.out();
    h.feed("AUTH LOGIN\r\n*\r\n");
    EXPECT_EQ(h.out(), "334 VXNlcm5hbWU6\r\n501 5.0.0 Authentication aborted\r\n");
    h.feed("AUTH PLAIN !!!!\r\n");
    EXPECT_EQ(h.out(), "501 5.5.2 Invalid base64 data\r\n");
    h.feed("AUTH LOGIN\r\nnot base64\r\n");
    EXPECT_EQ(h.out(), "334 VXNlcm5hbWU6\r\n501 5.5.2 Invalid base64 data\r\n");
    h.feed("AUTH CRAM-MD5\r\n");
    EXPECT_EQ(h.out(), "504 5.5.4 Unsupported authentication mechanism\r\n");
    h.feed("AUTH\r\n");
    EXPECT_EQ(h.out(), "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
}

TEST(login_machine, failed_logins_then_close) {
    harness h(true);
    h.feed("EHLO c\r\nAUTH PLAIN " + plain("u", "bad") + "\r\n");
    h.m.take_auth_request();
    h.out();
    EXPECT_EQ(h.m.on_auth_result({auth::auth_status::failed, "", {}, "password mismatch"}),
              action::need_input);
    EXPECT_EQ(h.out(), "535 5.7.8 Authentication credentials invalid\r\n");
    EXPECT_EQ(h.feed("AUTH PLAIN " + plain("u", "bad") + "\r\n"), action::authenticate);
    h.m.take_auth_request();
    EXPECT_EQ(h.m.on_auth_result({auth::auth_status::failed, "", {}, "password mismatch"}),
              action::close);
    EXPECT_EQ(h.out(),
              "535 5.7.8 Authentication credentials invalid\r\n"
              "421 4.7.0 mx.test Too many authentication failures\r\n");
}

TEST(login_machine, temporary_failure) {
    harness h(true);
    h.feed("EHLO c\r\nAUTH PLAIN " + plain("u", "p") + "\r\n");
    h.m.take_auth_request();
    h.out();
    EXPECT_EQ(h.m.on_auth_result({auth::auth_status::temp_fail, "", {}, "passdb unavailable"}),
              action::need_input);
    EXPECT_EQ(h.out(), "454 4.7.0 Temporary authentication failure\r\n");
}

TEST(login_machine, line_too_long_then_next_command) {
    harness h;
    std::string in = "NOOP " + std::string(2000, 'x') + "\r\nNOOP\r\n";
    EXPECT_EQ(h.feed(in), action::need_input);
    EXPECT_EQ(h.out(), "500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n");
    EXPECT_FALSE(h.m.in_command());  // the idle timeout, not a command deadline, runs now
    h.feed("NOOP " + std::string(2000, 'x'));
    EXPECT_TRUE(h.m.in_command());  // still skipping the overlong line's rest
    // Longer than max_command_line but within the reader's (AUTH) limit.
    h.feed("NOOP " + std::string(600, 'x') + "\r\n");
    EXPECT_EQ(h.out(), "500 5.5.2 Line too long\r\n");
}

TEST(login_machine, bad_command_limit_closes) {
    harness h;
    std::string in;
    for (int i = 0; i < 6; ++i)
        in += "BOGUS\r\n";
    EXPECT_EQ(h.feed(in), action::close);
    std::string o = h.out();
    EXPECT_NE(o.find("421 4.7.0 mx.test Too many bad commands, closing connection\r\n"),
              std::string::npos);
    EXPECT_EQ(h.m.close_reason(), "too-many-bad-commands");
}

TEST(login_machine, http_request_closes_without_reply) {
    for (const char* line :
         {"GET / HTTP/1.1\r\n", "POST /x HTTP/1.0\r\n", "CONNECT a:25 HTTP/1.1\r\n"}) {
        harness h;
        EXPECT_EQ(h.feed(line), action::close);
        EXPECT_EQ(h.out(), "");
        EXPECT_EQ(h.m.close_reason(), "http-request");
    }
}

TEST(login_machine, timeout_and_shutdown) {
    harness h;
    h.m.on_timeout();
    EXPECT_EQ(h.out(), "421 4.4.2 mx.test Idle timeout, closing connection\r\n");
    harness g;
    g.m.on_shutdown();
    EXPECT_EQ(g.out(), "421 4.3.2 mx.test Server shutting down\r\n");
    harness p;  // half a command line: the command deadline, not idleness
    EXPECT_EQ(p.feed("EHLO clie"), action::need_input);
    p.m.on_timeout();
    EXPECT_EQ(p.out(), "421 4.4.2 mx.test Command timeout, closing connection\r\n");
    EXPECT_EQ(p.m.close_reason(), "timeout");
}

TEST(login_machine, same_replies_however_the_input_is_split) {
    std::string dialog = "EHLO c\r\nNOOP\r\nFOO\r\nAUTH LOGIN\r\n" + core::base64_encode("dave") +
                         "\r\n" + core::base64_encode("pw") + "\r\n";
    auto run = [&](const std::vector<std::size_t>& cuts) {
        harness h(true);
        std::string pending;
        std::size_t pos = 0;
        std::vector<std::size_t> points = cuts;
        points.push_back(dialog.size());
        for (std::size_t p : points) {
            pending += dialog.substr(pos, p - pos);
            pos = p;
            std::size_t consumed = 0;
            action a = h.m.on_input(pending, consumed);
            pending.erase(0, consumed);
            if (a == action::authenticate) {
                EXPECT_EQ(h.m.take_auth_request().credentials.authcid, "dave");
                return h.out();
            }
        }
        return h.out() + "(no auth)";
    };
    std::string whole = run({});
    EXPECT_NE(whole.find("334 UGFzc3dvcmQ6"), std::string::npos);
    for (std::size_t cut = 1; cut < dialog.size(); ++cut) {
        ASSERT_EQ(run({cut}), whole) << "split at " << cut;
    }
    std::vector<std::size_t> bytes;
    for (std::size_t i = 1; i < dialog.size(); ++i)
        bytes.push_back(i);
    EXPECT_EQ(run(bytes), whole);
}

}  // namespace
}  // namespace submitd::login
