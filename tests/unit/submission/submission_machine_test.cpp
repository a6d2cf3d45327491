// Scripted dialogs against the submission (post-login) state machine: a
// harness plays the driver (submission_driver.cpp) against a scripted relay
// that answers each relay line with a canned reply or a failure and records
// every batch of relay lines and every message sent, so each test asserts the
// exact client replies (code and enhanced code) and the exact relay traffic.
// Covers MAIL/RCPT/DATA and their parameters, pipelined groups, the DATA body
// (unstuffing, smuggling, bare CR, oversize), the final reply, relay
// failures, session commands and limits, and a whole dialog fed whole, split
// at every offset and byte by byte (STYLE.md section 10; issue 3 items 2, 4,
// 5 and 6).
#include "submission/submission_machine.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../smtp/split_feed.hpp"
#include "core/log.hpp"
#include "relay/reply.hpp"
#include "submission/spool.hpp"

namespace submitd::submission {
namespace {

using namespace std::string_literals;

// The machine logs each bad command and refused message; keep the output readable.
const bool quiet = (core::set_log_level(core::log_level::warn), true);

/// A relay reply as the relay sends it, e.g. "250 2.1.0 Ok\r\n", parsed the
/// way the relay client parses it.
relay::reply rr(std::string_view wire) {
    relay::reply_parser p;
    auto r = p.parse(std::span<const char>(wire.data(), wire.size()));
    EXPECT_EQ(r.status, relay::reply_status::complete) << wire;
    EXPECT_EQ(r.consumed, wire.size()) << wire;
    return p.take();
}

/// What the scripted relay does with one relay line.
using scripted = std::variant<relay::reply, relay_failure>;

/// A well-behaved relay: accepts everything, with enhanced codes.
scripted default_relay(const std::string& line) {
    if (line.starts_with("MAIL ")) return rr("250 2.1.0 Ok\r\n");
    if (line.starts_with("RCPT ")) return rr("250 2.1.5 Ok\r\n");
    if (line.starts_with("VRFY ")) return rr("252 2.0.0 Maybe\r\n");
    return rr("250 2.0.0 Ok\r\n");
}

relay_outcome final_reply(std::string_view wire) {
    relay_outcome o;
    o.reply = rr(wire);
    o.end_sent = true;
    return o;
}

relay_outcome final_failure(bool end_sent, relay_failure f) {
    relay_outcome o;
    o.end_sent = end_sent;
    o.failure = f;
    return o;
}

submission_settings base_settings() {
    submission_settings s;
    s.capabilities.hostname = "mx.test";
    s.capabilities.max_message_size = 1000;
    s.max_command_line = 512;
    s.max_bad_commands = 5;
    s.max_message_size = 1000;
    s.relay.pipelining = true;
    s.relay.enhancedstatuscodes = true;
    return s;
}

/// The relay offers (and we therefore announce) 8BITMIME, DSN, SMTPUTF8,
/// SIZE and AUTH.
submission_settings rich_settings() {
    submission_settings s = base_settings();
    s.capabilities.eightbitmime = s.relay.eightbitmime = true;
    s.capabilities.dsn = s.relay.dsn = true;
    s.capabilities.smtputf8 = s.relay.smtputf8 = true;
    s.relay.size = 100000;
    s.relay.auth_mechanisms = {"PLAIN"};
    return s;
}

ipc::handoff make_handoff(bool tls = true) {
    ipc::handoff h;
    h.session_id = "s1";
    h.listener = "submission";
    h.remote_ip = "192.0.2.1";
    h.remote_port = 1234;
    h.local_ip = "127.0.0.1";
    h.local_port = 587;
    if (tls) {
        h.tls_version = "TLSv1.3";
        h.tls_cipher = "TLS_AES_128_GCM_SHA256";
    }
    h.user = "alice";
    h.mechanism = "PLAIN";
    h.helo = "client.test";
    return h;
}

std::string read_spool(const spool& sp) {
    std::string all(sp.size(), '\0');
    std::size_t n = 0;
    EXPECT_FALSE(sp.read(0, std::span<char>(all.data(), all.size()), n));
    EXPECT_EQ(n, all.size());
    return all;
}

/// Plays the driver: feeds client bytes, answers relay batches from the
/// script and relay messages from `finals`, and records everything.
struct harness {
    submission_settings settings;
    spool message_spool{64};  // small window: larger messages go through a file
    submission_machine m;

    std::deque<scripted> script;  ///< replies for the next relay lines, in order
    std::map<std::string, scripted>
        by_line;  ///< replies for a given line, when the script is empty
    std::function<scripted(const std::string&)> fallback = default_relay;  ///< null: strict
    std::deque<relay_outcome> finals;  ///< outcomes of the next messages; default 250

    std::vector<std::vector<std::string>> batches;  ///< each relay_commands batch
    std::vector<std::string> traffic;               ///< relay lines and "<message>..." entries
    std::vector<std::string> bodies;                ///< spool content of each message sent
    std::vector<transaction> sent;                  ///< current() of each message sent
    std::vector<burl_request> fetches;              ///< each fetch_url request
    std::deque<burl_result> fetch_results;          ///< outcomes of the next fetches
    std::string pending;                            ///< client bytes not consumed yet
    std::string client;                             ///< client output not taken yet
    action last = action::need_input;

    explicit harness(submission_settings s = base_settings(), bool tls = true)
        : settings(std::move(s)), m(settings, make_handoff(tls), message_spool) {}

    action feed(std::string_view in) {
        pending.append(in);
        return run(action::need_input);
    }

    /// Client output since the last call.
    std::string out() {
        collect();
        std::string o = std::move(client);
        client.clear();
        return o;
    }

    /// Batches since the last call.
    std::vector<std::vector<std::string>> take_batches() {
        auto b = std::move(batches);
        batches.clear();
        return b;
    }

    void collect() {
        client += m.output();
        m.output().clear();
    }

    scripted answer(const std::string& line) {
        if (!script.empty()) {
            scripted s = std::move(script.front());
            script.pop_front();
            return s;
        }
        if (auto it = by_line.find(line); it != by_line.end()) return it->second;
        if (fallback) return fallback(line);
        ADD_FAILURE() << "unscripted relay line: " << line;
        return relay_failure::lost;
    }

    action run(action next) {
        for (int guard = 0; guard < 10000; ++guard) {
            last = next;
            switch (next) {
                case action::need_input: {
                    std::size_t consumed = 0;
                    next = m.on_input(pending, consumed);
                    EXPECT_LE(consumed, pending.size());
                    pending.erase(0, consumed);
                    if (next == action::need_input) {
                        collect();
                        last = next;
                        return next;
                    }
                    break;
                }
                case action::relay_commands: {
                    collect();  // the driver flushes what the client is owed first
                    std::vector<std::string> lines = m.relay_out();
                    EXPECT_FALSE(lines.empty()) << "relay_commands with nothing to send";
                    batches.push_back(lines);
                    traffic.insert(traffic.end(), lines.begin(), lines.end());
                    std::vector<relay::reply> replies;
                    std::optional<relay_failure> failed;
                    for (const auto& l : lines) {
                        scripted s = answer(l);
                        if (auto* f = std::get_if<relay_failure>(&s)) {
                            failed = *f;
                            break;
                        }
                        replies.push_back(std::get<relay::reply>(s));
                    }
                    next = failed ? m.on_relay_failed(*failed)
                                  : m.on_relay_replies(std::move(replies));
                    break;
                }
                case action::relay_message: {
                    collect();
                    const transaction& tx = m.current();
                    sent.push_back(tx);
                    std::string body = read_spool(message_spool);
                    bodies.push_back(body);
                    std::string entry = "<message " + tx.mail_line;
                    for (const auto& r : tx.rcpt_lines)
                        entry += " | " + r;
                    entry += ">" + body;
                    traffic.push_back(entry);
                    relay_outcome o = final_reply("250 2.0.0 Ok: queued as Q1\r\n");
                    if (!finals.empty()) {
                        o = finals.front();
                        finals.pop_front();
                    }
                    next = m.on_relay_final(o);
                    break;
                }
                case action::fetch_url: {
                    collect();
                    fetches.push_back(m.burl_fetch());
                    burl_result r;
                    if (fetch_results.empty()) {
                        ADD_FAILURE() << "unscripted fetch: " << m.burl_fetch().url.text;
                    } else {
                        r = std::move(fetch_results.front());
                        fetch_results.pop_front();
                    }
                    next = m.on_burl_fetched(std::move(r));
                    break;
                }
                case action::close:
                    collect();
                    return next;
            }
        }
        ADD_FAILURE() << "the machine never asked for input";
        return action::close;
    }
};

using batch_list = std::vector<std::vector<std::string>>;

constexpr std::string_view k354 = "354 End data with <CR><LF>.<CR><LF>\r\n";

// ---------------------------------------------------------------------------
// MAIL and the relay's reply: MAIL is answered here and goes to the relay
// with the first RCPT; a refusal answers that RCPT and every later one.

struct relay_reply_case {
    std::string name;
    std::string relay;   ///< the relay's reply to MAIL, on the wire
    std::string client;  ///< what the client gets for each RCPT when MAIL was refused
    bool open;           ///< the relay accepted MAIL
};

TEST(submission_machine, mail_reply_from_relay_table) {
    const std::vector<relay_reply_case> cases = {
        {"accepted", "250 2.1.0 Ok\r\n", "250 2.1.0 Ok\r\n", true},
        {"refused, enhanced kept", "550 5.7.1 Sender rejected\r\n", "550 5.7.1 Sender rejected\r\n",
         false},
        {"temporary, enhanced kept", "451 4.3.2 Busy\r\n", "451 4.3.2 Busy\r\n", false},
        {"2xx without enhanced", "250 Ok\r\n", "250 2.0.0 Ok\r\n", true},
        {"4xx without enhanced", "451 Try later\r\n", "451 4.0.0 Try later\r\n", false},
        {"5xx without enhanced", "553 Bad sender\r\n", "553 5.0.0 Bad sender\r\n", false},
        {"multi-line, enhanced on each line", "250-2.1.0 first\r\n250 2.1.0 second\r\n",
         "250-2.1.0 first\r\n250 2.1.0 second\r\n", true},
        {"multi-line without enhanced", "550-no\r\n550 way\r\n",
         "550-5.0.0 no\r\n550 5.0.0 way\r\n", false},
        {"relay wants authentication", "530 5.7.0 Authentication required\r\n",
         "451 4.3.5 Relay server refused the transaction, try again later\r\n", false},
        {"relay wants authentication, no enhanced", "530 Auth first\r\n",
         "451 4.3.5 Relay server refused the transaction, try again later\r\n", false},
        {"relay closing: the client's session goes on", "421 4.3.2 Shutting down\r\n",
         "451 4.4.0 Relay server closing connection, try again later\r\n", false},
        {"relay out of step: 3xx", "354 go ahead\r\n",
         "451 4.4.0 Unexpected reply from relay server, try again later\r\n", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        harness h;
        h.script.push_back(rr(c.relay));
        h.script.push_back(rr(c.open ? "250 2.1.5 Ok\r\n" : "503 5.5.1 MAIL first\r\n"));
        EXPECT_EQ(h.feed("MAIL FROM:<alice@example.org>\r\n"), action::need_input);
        EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n");
        EXPECT_TRUE(h.take_batches().empty());
        h.feed("RCPT TO:<bob@example.net>\r\n");
        EXPECT_EQ(h.take_batches(),
                  (batch_list{{"MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.net>"}}));
        EXPECT_EQ(h.out(), c.open ? "250 2.1.5 Ok\r\n" : c.client);
        // The client's transaction is open either way: MAIL is nested.
        h.feed("MAIL FROM:<other@example.org>\r\n");
        EXPECT_EQ(h.out(), "503 5.5.1 Nested MAIL command\r\n");
        h.feed("RCPT TO:<carol@example.net>\r\nDATA\r\n");
        if (c.open) {
            EXPECT_EQ(h.take_batches(), (batch_list{{"RCPT TO:<carol@example.net>"}}));
            EXPECT_EQ(h.out(), "250 2.1.5 Ok\r\n"s + std::string(k354));
            continue;
        }
        // Later RCPTs get the same refusal without asking the relay again.
        EXPECT_TRUE(h.take_batches().empty());
        EXPECT_EQ(h.out(), c.client + "554 5.5.1 No valid recipients\r\n");
        // RSET: the relay holds no transaction of ours; a new MAIL goes again.
        h.feed("RSET\r\nMAIL FROM:<other@example.org>\r\nRCPT TO:<bob@example.net>\r\n");
        EXPECT_EQ(h.take_batches(),
                  (batch_list{{"MAIL FROM:<other@example.org>", "RCPT TO:<bob@example.net>"}}));
        EXPECT_EQ(h.out(), "250 2.0.0 Reset state\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
    }
}

struct mail_case {
    std::string name;
    bool rich;           ///< rich_settings() (else base_settings(): the relay offers nothing)
    std::string args;    ///< after "MAIL "
    std::string relay;   ///< the line the relay gets; empty: none
    std::string client;  ///< the client's reply
};

TEST(submission_machine, mail_parameters_table) {
    const std::string ok = "250 2.1.0 Ok\r\n";
    const std::string bad_param_dsn = "555 5.5.4 DSN parameters not supported\r\n";
    const std::vector<mail_case> cases = {
        {"plain", false, "FROM:<a@b.example>", "MAIL FROM:<a@b.example>", ok},
        {"null path", false, "FROM:<>", "MAIL FROM:<>", ok},
        {"lower-case verb argument", false, "from:<a@b.example>", "MAIL FROM:<a@b.example>", ok},
        // SIZE: checked against the limit, forwarded only when the relay has SIZE.
        {"SIZE, relay without SIZE", false, "FROM:<a@b.example> SIZE=10", "MAIL FROM:<a@b.example>",
         ok},
        {"SIZE, relay with SIZE", true, "FROM:<a@b.example> SIZE=10",
         "MAIL FROM:<a@b.example> SIZE=10 AUTH=alice", ok},
        {"SIZE at the limit", false, "FROM:<a@b.example> SIZE=1000", "MAIL FROM:<a@b.example>", ok},
        {"SIZE over the limit", false, "FROM:<a@b.example> SIZE=1001", "",
         "552 5.3.4 Message size exceeds fixed maximum message size\r\n"},
        {"SIZE over the limit, relay with SIZE", true, "FROM:<a@b.example> SIZE=99999999", "",
         "552 5.3.4 Message size exceeds fixed maximum message size\r\n"},
        // BODY
        {"8BITMIME not offered", false, "FROM:<a@b.example> BODY=8BITMIME", "",
         "555 5.5.4 BODY=8BITMIME not supported\r\n"},
        {"8BITMIME offered", true, "FROM:<a@b.example> BODY=8BITMIME",
         "MAIL FROM:<a@b.example> BODY=8BITMIME AUTH=alice", ok},
        {"7BIT, relay without 8BITMIME", false, "FROM:<a@b.example> BODY=7BIT",
         "MAIL FROM:<a@b.example>", ok},
        {"7BIT, relay with 8BITMIME", true, "FROM:<a@b.example> BODY=7BIT",
         "MAIL FROM:<a@b.example> BODY=7BIT AUTH=alice", ok},
        {"BINARYMIME", true, "FROM:<a@b.example> BODY=BINARYMIME", "",
         "555 5.5.4 BODY=BINARYMIME not supported\r\n"},
        // SMTPUTF8
        {"SMTPUTF8 not offered", false, "FROM:<a@b.example> SMTPUTF8", "",
         "555 5.5.4 SMTPUTF8 not supported\r\n"},
        {"SMTPUTF8 offered", true, "FROM:<a@b.example> SMTPUTF8",
         "MAIL FROM:<a@b.example> SMTPUTF8 AUTH=alice", ok},
        {"UTF-8 path with SMTPUTF8", true, "FROM:<j\xc3\xb6rg@b.example> SMTPUTF8",
         "MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8 AUTH=alice", ok},
        {"UTF-8 path without SMTPUTF8", true, "FROM:<j\xc3\xb6rg@b.example>", "",
         "553 5.6.7 SMTPUTF8 required for a non-ASCII address\r\n"},
        // DSN
        {"RET without DSN", false, "FROM:<a@b.example> RET=HDRS", "", bad_param_dsn},
        {"ENVID without DSN", false, "FROM:<a@b.example> ENVID=abc", "", bad_param_dsn},
        {"RET and ENVID with DSN", true, "FROM:<a@b.example> RET=FULL ENVID=abc",
         "MAIL FROM:<a@b.example> RET=FULL ENVID=abc AUTH=alice", ok},
        // AUTH=: never the client's; ours when the relay has AUTH.
        {"client AUTH=, relay without AUTH", false, "FROM:<a@b.example> AUTH=mallory",
         "MAIL FROM:<a@b.example>", ok},
        {"client AUTH=<>, relay without AUTH", false, "FROM:<a@b.example> AUTH=<>",
         "MAIL FROM:<a@b.example>", ok},
        {"client AUTH=, relay with AUTH", true, "FROM:<a@b.example> AUTH=mallory",
         "MAIL FROM:<a@b.example> AUTH=alice", ok},
        {"everything, in order", true,
         "FROM:<a@b.example> AUTH=x ENVID=e1 RET=HDRS SMTPUTF8 BODY=8BITMIME SIZE=5",
         "MAIL FROM:<a@b.example> SIZE=5 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=e1 AUTH=alice", ok},
        // Syntax, from smtp/params.
        {"unknown parameter", false, "FROM:<a@b.example> FOO=1", "",
         "555 5.5.4 Unsupported parameter FOO\r\n"},
        {"missing brackets", false, "FROM:a@b.example", "",
         "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        harness h(c.rich ? rich_settings() : base_settings());
        h.feed("MAIL " + c.args + "\r\n");
        EXPECT_EQ(h.out(), c.client);
        EXPECT_TRUE(h.take_batches().empty());  // held until the first RCPT
        h.feed("RCPT TO:<c@d.example>\r\n");
        if (c.relay.empty()) {
            EXPECT_EQ(h.out(), "503 5.5.1 MAIL first\r\n");
            EXPECT_TRUE(h.take_batches().empty());
        } else {
            EXPECT_EQ(h.out(), "250 2.1.5 Ok\r\n");
            EXPECT_EQ(h.take_batches(), (batch_list{{c.relay, "RCPT TO:<c@d.example>"}}));
        }
    }
}

TEST(submission_machine, auth_parameter_is_xtext_of_the_login) {
    // The login comes from the handoff; give it bytes xtext must encode.
    const auto s = rich_settings();
    ipc::handoff hand = make_handoff();
    hand.user = "al+ice=x y";
    spool sp;
    submission_machine m(s, hand, sp);
    std::size_t consumed = 0;
    EXPECT_EQ(m.on_input("MAIL FROM:<a@b.example>\r\n", consumed), action::need_input);
    EXPECT_EQ(m.on_input("RCPT TO:<c@d.example>\r\n", consumed), action::relay_commands);
    EXPECT_EQ(m.relay_out(),
              (std::vector<std::string>{"MAIL FROM:<a@b.example> AUTH=al+2Bice+3Dx+20y",
                                        "RCPT TO:<c@d.example>"}));
}

TEST(submission_machine, no_relay_configured) {
    auto s = base_settings();
    s.relay_configured = false;
    harness h(s);
    h.feed("MAIL FROM:<a@b.example>\r\n");
    EXPECT_EQ(h.out(), "451 4.3.0 No relay server configured, try again later\r\n");
    EXPECT_TRUE(h.take_batches().empty());
}

// ---------------------------------------------------------------------------
// RCPT

struct rcpt_case {
    std::string name;
    bool rich;
    std::string mail_args;  ///< after "MAIL "
    std::string args;       ///< after "RCPT "
    std::string relay;      ///< the RCPT line the relay gets; empty: none
    std::string client;
};

TEST(submission_machine, rcpt_parameters_table) {
    const std::string ok = "250 2.1.5 Ok\r\n";
    const std::vector<rcpt_case> cases = {
        {"plain", false, "FROM:<a@b.example>", "TO:<c@d.example>", "RCPT TO:<c@d.example>", ok},
        {"postmaster", false, "FROM:<a@b.example>", "TO:<Postmaster>", "RCPT TO:<Postmaster>", ok},
        {"NOTIFY without DSN", false, "FROM:<a@b.example>", "TO:<c@d.example> NOTIFY=SUCCESS", "",
         "555 5.5.4 DSN parameters not supported\r\n"},
        {"ORCPT without DSN", false, "FROM:<a@b.example>", "TO:<c@d.example> ORCPT=rfc822;c@d", "",
         "555 5.5.4 DSN parameters not supported\r\n"},
        {"NOTIFY and ORCPT with DSN", true, "FROM:<a@b.example>",
         "TO:<c@d.example> ORCPT=rfc822;c@d NOTIFY=FAILURE,SUCCESS",
         "RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d", ok},
        {"null path", false, "FROM:<a@b.example>", "TO:<>", "",
         "553 5.1.3 Invalid address: empty path\r\n"},
        {"UTF-8 after MAIL SMTPUTF8", true, "FROM:<a@b.example> SMTPUTF8",
         "TO:<j\xc3\xb6rg@d.example>", "RCPT TO:<j\xc3\xb6rg@d.example>", ok},
        {"UTF-8 without MAIL SMTPUTF8", true, "FROM:<a@b.example>", "TO:<j\xc3\xb6rg@d.example>",
         "", "553 5.6.7 SMTPUTF8 required for a non-ASCII address\r\n"},
        {"unknown parameter", false, "FROM:<a@b.example>", "TO:<c@d.example> XYZ", "",
         "555 5.5.4 Unsupported parameter XYZ\r\n"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        harness h(c.rich ? rich_settings() : base_settings());
        h.feed("MAIL " + c.mail_args + "\r\n");
        EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n");
        h.take_batches();
        h.feed("RCPT " + c.args + "\r\n");
        std::string o = h.out();
        EXPECT_EQ(o, c.client);
        auto batches = h.take_batches();
        if (c.relay.empty()) {
            EXPECT_TRUE(batches.empty());
        } else {
            // The held MAIL goes first, in the same batch.
            ASSERT_EQ(batches.size(), 1u);
            ASSERT_EQ(batches[0].size(), 2u);
            EXPECT_TRUE(batches[0][0].starts_with("MAIL FROM:<a@b.example>")) << batches[0][0];
            EXPECT_EQ(batches[0][1], c.relay);
        }
    }
}

// ---------------------------------------------------------------------------
// Sequence errors

struct sequence_case {
    std::string name;
    std::string input;   ///< whole dialog, fed at once
    std::string client;  ///< every reply
    batch_list batches;
};

TEST(submission_machine, sequence_errors_table) {
    const std::vector<sequence_case> cases = {
        {"DATA without MAIL", "DATA\r\n", "503 5.5.1 MAIL first\r\n", {}},
        {"RCPT before MAIL", "RCPT TO:<c@d.example>\r\n", "503 5.5.1 MAIL first\r\n", {}},
        {"second MAIL",
         "MAIL FROM:<a@b.example>\r\nMAIL FROM:<x@b.example>\r\n",
         "250 2.1.0 Ok\r\n503 5.5.1 Nested MAIL command\r\n",
         {}},
        {"DATA without recipient",
         "MAIL FROM:<a@b.example>\r\nDATA\r\n",
         "250 2.1.0 Ok\r\n554 5.5.1 No valid recipients\r\n",
         {}},
        {"DATA with an argument",
         "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA now\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n501 5.5.4 Syntax: DATA\r\n",
         {{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        harness h;
        EXPECT_EQ(h.feed(c.input), action::need_input);
        EXPECT_EQ(h.out(), c.client);
        EXPECT_EQ(h.take_batches(), c.batches);
    }
}

TEST(submission_machine, data_after_every_recipient_was_refused) {
    harness h;
    h.by_line["RCPT TO:<c@d.example>"] = rr("550 5.1.1 No such user\r\n");
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    EXPECT_EQ(h.out(),
              "250 2.1.0 Ok\r\n550 5.1.1 No such user\r\n554 5.5.1 No valid recipients\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}}));
}

TEST(submission_machine, data_after_mail_refused_by_the_relay) {
    harness h;
    h.by_line["MAIL FROM:<a@b.example>"] = rr("550 5.7.1 Go away\r\n");
    h.by_line["RCPT TO:<c@d.example>"] = rr("503 5.5.1 Need MAIL first\r\n");
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n550 5.7.1 Go away\r\n554 5.5.1 No valid recipients\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}}));
    EXPECT_TRUE(h.sent.empty());
}

// ---------------------------------------------------------------------------
// Pipelining

TEST(submission_machine, pipelined_group_is_one_relay_batch) {
    harness h;
    h.by_line["RCPT TO:<bad@d.example>"] = rr("550 5.1.1 <bad@d.example>: unknown\r\n");
    EXPECT_EQ(h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<bad@d.example>\r\n"
                     "RCPT TO:<good@d.example>\r\nDATA\r\n"),
              action::need_input);
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<bad@d.example>",
                                             "RCPT TO:<good@d.example>"}}));
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n550 5.1.1 <bad@d.example>: unknown\r\n250 2.1.5 Ok\r\n"s +
                           std::string(k354));
    EXPECT_TRUE(h.m.in_command());
    h.feed("Subject: hi\r\n\r\nbody\r\n.\r\n");
    EXPECT_EQ(h.out(), "250 2.0.0 Ok: queued as Q1\r\n");
    ASSERT_EQ(h.sent.size(), 1u);
    EXPECT_EQ(h.sent[0].mail_line, "MAIL FROM:<a@b.example>");
    EXPECT_EQ(h.sent[0].rcpt_lines, (std::vector<std::string>{"RCPT TO:<good@d.example>"}));
    EXPECT_EQ(h.sent[0].recipients, (std::vector<std::string>{"good@d.example"}));
    EXPECT_EQ(h.sent[0].reverse_path, "a@b.example");
    EXPECT_EQ(h.sent[0].id, "s1.1");
    EXPECT_EQ(h.bodies[0], "Subject: hi\r\n\r\nbody\r\n");
    EXPECT_TRUE(h.take_batches().empty());
}

TEST(submission_machine, whole_transaction_and_following_commands_in_one_input) {
    harness h;
    EXPECT_EQ(h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
                     "x\r\n.\r\nNOOP\r\nMAIL FROM:<a@b.example>\r\n"),
              action::need_input);
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"s + std::string(k354) +
                           "250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 OK\r\n250 2.1.0 Ok\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}}));
    ASSERT_EQ(h.bodies.size(), 1u);
    EXPECT_EQ(h.bodies[0], "x\r\n");
    EXPECT_EQ(h.sent[0].id, "s1.1");
}

TEST(submission_machine, local_errors_keep_their_place_in_a_group) {
    harness h;
    h.feed(
        "MAIL FROM:<a@b.example>\r\nRCPT TO:c@d.example\r\nRCPT TO:<e@d.example>\r\n"
        "RCPT TO:<f@d.example> NOTIFY=SUCCESS\r\nBOGUS\r\nRCPT TO:<g@d.example>\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<e@d.example>"},
                                            {"RCPT TO:<g@d.example>"}}));
    EXPECT_EQ(h.out(),
              "250 2.1.0 Ok\r\n"
              "501 5.5.4 Syntax: RCPT TO:<address> [parameters]\r\n"
              "250 2.1.5 Ok\r\n"
              "555 5.5.4 DSN parameters not supported\r\n"
              "500 5.5.1 Unknown command\r\n"
              "250 2.1.5 Ok\r\n");
}

TEST(submission_machine, bad_syntax_line_in_a_group_keeps_its_place) {
    harness h;
    h.feed("MAIL FROM:<a@b.example>\r\nRC\x01PT\r\nRCPT TO:<e@d.example>\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<e@d.example>"}}));
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n500 5.5.2 Invalid command syntax\r\n250 2.1.5 Ok\r\n");
}

TEST(submission_machine, max_recipients) {
    auto s = base_settings();
    s.max_recipients = 2;
    harness h(s);
    h.feed(
        "MAIL FROM:<a@b.example>\r\nRCPT TO:<r1@d.example>\r\nRCPT TO:<r2@d.example>\r\n"
        "RCPT TO:<r3@d.example>\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<r1@d.example>",
                                             "RCPT TO:<r2@d.example>"}}));
    EXPECT_EQ(h.out(),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n");
    // Still too many afterwards; the 452s do not count as bad commands.
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(h.feed("RCPT TO:<r4@d.example>\r\n"), action::need_input);
        EXPECT_EQ(h.out(), "452 4.5.3 Too many recipients\r\n");
    }
    EXPECT_TRUE(h.take_batches().empty());
}

TEST(submission_machine, rcpt_with_a_3xx_is_not_a_recipient) {
    harness h;
    h.by_line["RCPT TO:<odd@d.example>"] = rr("354 what\r\n");
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<odd@d.example>\r\nDATA\r\n");
    EXPECT_EQ(h.out(),
              "250 2.1.0 Ok\r\n451 4.4.0 Unexpected reply from relay server, try again later\r\n"
              "554 5.5.1 No valid recipients\r\n");
    EXPECT_TRUE(h.sent.empty());
}

TEST(submission_machine, recipients_refused_by_the_relay_do_not_count) {
    auto s = base_settings();
    s.max_recipients = 2;
    harness h(s);
    h.by_line["RCPT TO:<r1@d.example>"] = rr("550 5.1.1 No\r\n");
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<r1@d.example>\r\nRCPT TO:<r2@d.example>\r\n");
    h.out();
    h.take_batches();
    h.feed("RCPT TO:<r3@d.example>\r\n");
    EXPECT_EQ(h.out(), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"RCPT TO:<r3@d.example>"}}));
    h.feed("RCPT TO:<r4@d.example>\r\n");
    EXPECT_EQ(h.out(), "452 4.5.3 Too many recipients\r\n");
}

TEST(submission_machine, commands_after_a_group_wait_for_its_replies) {
    harness h;
    std::size_t consumed = 0;
    std::string in =
        "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nNOOP\r\nRCPT TO:<e@d.example>\r\n";
    EXPECT_EQ(h.m.on_input(in, consumed), action::relay_commands);
    // NOOP was read and waits; the RCPT after it is not read yet.
    EXPECT_EQ(in.substr(consumed), "RCPT TO:<e@d.example>\r\n");
    EXPECT_EQ(h.m.relay_out(),
              (std::vector<std::string>{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}));
    EXPECT_EQ(h.m.output(), "250 2.1.0 Ok\r\n");  // MAIL's own, before the group
    EXPECT_EQ(h.m.on_relay_replies({rr("250 2.1.0 Ok\r\n"), rr("250 2.1.5 Ok\r\n")}),
              action::need_input);
    EXPECT_EQ(h.m.output(), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
    // Called again with no new bytes: the waiting NOOP runs.
    EXPECT_EQ(h.m.on_input("", consumed), action::need_input);
    EXPECT_EQ(h.m.output(), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 OK\r\n");
}

// ---------------------------------------------------------------------------
// Relay failures

struct failure_case {
    std::string name;
    relay_failure failure;
    std::string reply;  ///< one client reply per relay command
};

TEST(submission_machine, relay_failure_for_a_group_table) {
    const std::vector<failure_case> cases = {
        {"unreachable", relay_failure::unreachable,
         "451 4.4.1 Failed to connect to relay server, try again later\r\n"},
        {"lost", relay_failure::lost,
         "451 4.4.0 Lost connection to relay server, try again later\r\n"},
        {"xclient refused", relay_failure::xclient_refused,
         "451 4.7.0 Relay server refused to take the client's identity\r\n"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        {
            harness h;
            h.script.push_back(c.failure);
            EXPECT_EQ(h.feed("MAIL FROM:<a@b.example>\r\n"), action::need_input);
            EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n");
            h.feed("RCPT TO:<c@d.example>\r\n");
            EXPECT_EQ(h.out(), c.reply);
            // The session lives on, and so does the transaction, which has no
            // recipient yet: MAIL goes again with the next RCPT.
            h.take_batches();
            h.feed("NOOP\r\nRCPT TO:<c@d.example>\r\n");
            EXPECT_EQ(h.out(), "250 2.0.0 OK\r\n250 2.1.5 Ok\r\n");
            EXPECT_EQ(h.take_batches(),
                      (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}}));
        }
        {
            // A whole group: every relay command gets the failure, local
            // replies keep their place.
            harness h;
            h.script.push_back(c.failure);
            h.feed(
                "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:bad\r\n"
                "RCPT TO:<e@d.example>\r\nDATA\r\n");
            EXPECT_EQ(h.take_batches(),
                      (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>",
                                   "RCPT TO:<e@d.example>"}}));
            EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n" + c.reply +
                                   "501 5.5.4 Syntax: RCPT TO:<address> [parameters]\r\n" +
                                   c.reply + "554 5.5.1 No valid recipients\r\n");
        }
    }
}

TEST(submission_machine, relay_failure_after_mail_accepted) {
    harness h;
    h.feed("MAIL FROM:<a@b.example>\r\n");
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n");
    h.feed("RCPT TO:<c@d.example>\r\n");
    EXPECT_EQ(h.out(), "250 2.1.5 Ok\r\n");
    h.script.push_back(relay_failure::lost);
    h.feed("RCPT TO:<e@d.example>\r\n");
    EXPECT_EQ(h.out(), "451 4.4.0 Lost connection to relay server, try again later\r\n");
    // The relay's transaction, with a recipient the client was told it
    // had, died with its connection: the client starts over.
    h.take_batches();
    h.feed("RCPT TO:<c@d.example>\r\nDATA\r\nMAIL FROM:<a@b.example>\r\n");
    EXPECT_EQ(h.out(), "503 5.5.1 MAIL first\r\n503 5.5.1 MAIL first\r\n250 2.1.0 Ok\r\n");
    EXPECT_TRUE(h.take_batches().empty());
}

// A relay failure injected at every relay line of a transaction, of every
// kind, and at the final reply: the client gets exactly one reply per
// command, a 451 for the one that failed, and the session goes on; a
// message accepted in the end goes to exactly the recipients that the
// client was told were accepted (a failure before any recipient keeps the
// transaction: MAIL goes again with the next RCPT).
TEST(submission_machine, relay_failure_at_every_step) {
    const std::vector<std::string> commands = {"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>",
                                               "RCPT TO:<e@d.example>", "DATA"};
    auto final_lines = [](const std::string& out) {
        std::vector<std::string> finals;
        std::size_t pos = 0;
        while (pos < out.size()) {
            std::size_t end = out.find("\r\n", pos);
            std::string line = out.substr(pos, end - pos);
            if (line.size() >= 4 && line[3] == ' ') finals.push_back(line);
            pos = end + 2;
        }
        return finals;
    };
    for (auto kind :
         {relay_failure::unreachable, relay_failure::lost, relay_failure::xclient_refused}) {
        for (int fail_at = 0; fail_at <= 3; ++fail_at) {  // 3: the final reply
            SCOPED_TRACE(::testing::Message()
                         << "failure " << static_cast<int>(kind) << " at " << fail_at);
            harness h;
            int seen = 0;
            h.fallback = [&](const std::string& line) -> scripted {
                if (seen++ == fail_at) return kind;
                return default_relay(line);
            };
            if (fail_at == 3) h.finals.push_back(final_failure(false, kind));
            std::string all;
            for (const auto& c : commands) {
                h.feed(c + "\r\n");  // one command at a time: one relay line per exchange
                all += h.out();
            }
            auto finals = final_lines(all);
            ASSERT_EQ(finals.size(), commands.size()) << all;
            std::vector<std::string> told;  // recipients the client had 250 for
            for (std::size_t i : {1u, 2u}) {
                if (finals[i].starts_with("250"))
                    told.push_back(i == 1 ? "c@d.example" : "e@d.example");
            }
            if (finals.back().starts_with("354")) {
                h.feed("body\r\n.\r\n");
                std::string o = h.out();
                EXPECT_EQ(final_lines(o).size(), 1u) << o;
                if (fail_at == 3) {
                    EXPECT_TRUE(o.starts_with("451 4.")) << o;
                } else {
                    EXPECT_EQ(o, "250 2.0.0 Ok: queued as Q1\r\n");
                    ASSERT_EQ(h.sent.size(), 1u);
                    EXPECT_EQ(h.sent[0].recipients, told);
                }
                all += o;
            } else {
                EXPECT_TRUE(finals.back().starts_with("503 5.5.1") ||
                            finals.back().starts_with("554 5.5.1"))
                    << all;
                EXPECT_TRUE(h.sent.empty());
            }
            EXPECT_NE(all.find("451 4."), std::string::npos) << all;
            EXPECT_EQ(h.feed("NOOP\r\n"), action::need_input);
            EXPECT_EQ(h.out(), "250 2.0.0 OK\r\n");
        }
    }
}

// ---------------------------------------------------------------------------
// The final reply

struct final_case {
    std::string name;
    relay_outcome outcome;
    std::string client;
};

TEST(submission_machine, final_reply_table) {
    const std::vector<final_case> cases = {
        {"accepted", final_reply("250 2.0.0 Ok: queued as ABC\r\n"),
         "250 2.0.0 Ok: queued as ABC\r\n"},
        {"accepted without enhanced", final_reply("250 Ok\r\n"), "250 2.0.0 Ok\r\n"},
        {"refused", final_reply("554 5.7.1 Spam\r\n"), "554 5.7.1 Spam\r\n"},
        {"temporary without enhanced", final_reply("452 Disk full\r\n"), "452 4.0.0 Disk full\r\n"},
        {"multi-line", final_reply("550-5.7.1 Policy\r\n550 5.7.1 see url\r\n"),
         "550-5.7.1 Policy\r\n550 5.7.1 see url\r\n"},
        {"no reply after the end was sent", final_failure(true, relay_failure::lost),
         "451 4.4.2 Lost connection to relay server after the message was sent\r\n"},
        {"end sent wins over the failure kind", final_failure(true, relay_failure::unreachable),
         "451 4.4.2 Lost connection to relay server after the message was sent\r\n"},
        {"unreachable", final_failure(false, relay_failure::unreachable),
         "451 4.4.1 Failed to connect to relay server, try again later\r\n"},
        {"lost before the end", final_failure(false, relay_failure::lost),
         "451 4.4.0 Lost connection to relay server, try again later\r\n"},
        {"xclient refused", final_failure(false, relay_failure::xclient_refused),
         "451 4.7.0 Relay server refused to take the client's identity\r\n"},
        // A relay out of step: an intermediate reply says nothing of the message.
        {"3xx after the end", final_reply("354 go on\r\n"),
         "451 4.4.2 Lost connection to relay server after the message was sent\r\n"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        harness h;
        h.finals.push_back(c.outcome);
        h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
        h.out();
        h.take_batches();
        EXPECT_EQ(h.feed("hello\r\n.\r\n"), action::need_input);
        EXPECT_EQ(h.out(), c.client);
        ASSERT_EQ(h.bodies.size(), 1u);
        EXPECT_EQ(h.bodies[0], "hello\r\n");
        EXPECT_TRUE(h.take_batches().empty());  // no RSET: the relay's transaction is over
        // The transaction is reset: a new MAIL is taken, DATA needs one.
        h.feed("DATA\r\nMAIL FROM:<x@b.example>\r\n");
        EXPECT_EQ(h.out(), "503 5.5.1 MAIL first\r\n250 2.1.0 Ok\r\n");
        EXPECT_TRUE(h.take_batches().empty());
    }
}

TEST(submission_machine, transaction_ids_count_up) {
    harness h;
    for (int i = 1; i <= 3; ++i) {
        h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nm\r\n.\r\n");
    }
    ASSERT_EQ(h.sent.size(), 3u);
    EXPECT_EQ(h.sent[0].id, "s1.1");
    EXPECT_EQ(h.sent[1].id, "s1.2");
    EXPECT_EQ(h.sent[2].id, "s1.3");
}

// ---------------------------------------------------------------------------
// The DATA body

std::string open_data(harness& h) {
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    h.take_batches();
    return h.out();
}

struct body_case {
    std::string name;
    smtp::bare_cr_policy cr;
    smtp::bare_lf_policy lf;
    std::string body;     ///< what the client sends after the 354, end marker included
    std::string spooled;  ///< what the relay gets (spool content); ignored when refused
    std::string client;   ///< the final reply
};

TEST(submission_machine, data_body_table) {
    using smtp::bare_cr_policy;
    using smtp::bare_lf_policy;
    const auto cr_rej = bare_cr_policy::reject;
    const auto cr_norm = bare_cr_policy::normalize;
    const auto lf_norm = bare_lf_policy::normalize;
    const auto lf_rej = bare_lf_policy::reject;
    const std::string ok = "250 2.0.0 Ok: queued as Q1\r\n";
    const std::string bare = "554 5.6.0 Message contains a bare CR or LF\r\n";
    const std::vector<body_case> cases = {
        {"empty message", cr_rej, lf_norm, ".\r\n", "", ok},
        {"plain", cr_rej, lf_norm, "a\r\nb\r\n.\r\n", "a\r\nb\r\n", ok},
        {"dot-unstuffing", cr_rej, lf_norm, "..a\r\n...\r\n..\r\nb.\r\n.\r\n",
         ".a\r\n..\r\n.\r\nb.\r\n", ok},
        {"8-bit and NUL pass", cr_rej, lf_norm, "\xc3\xa9\0x\r\n.\r\n"s, "\xc3\xa9\0x\r\n"s, ok},
        {"no final CRLF before the dot is not an end", cr_rej, lf_norm, "a.\r\n.\r\n", "a.\r\n",
         ok},
        {"bare LF normalized", cr_rej, lf_norm, "a\nb\r\n.\r\n", "a\r\nb\r\n", ok},
        {"bare LF rejected", cr_rej, lf_rej, "a\nb\r\n.\r\n", "", bare},
        {"bare CR rejected", cr_rej, lf_norm, "a\rb\r\n.\r\n", "", bare},
        {"bare CR normalized", cr_norm, lf_norm, "a\rb\r\n.\r\n", "a\r\nb\r\n", ok},
        // Smuggling: none of these ends the data; the real end marker does.
        {"LF dot LF", cr_rej, lf_norm, "a\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", ok},
        {"CRLF dot LF", cr_rej, lf_norm, "a\r\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", ok},
        {"LF dot CRLF", cr_rej, lf_norm, "a\n.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", ok},
        {"CR dot CR, rejected", cr_rej, lf_norm, "a\r.\rb\r\n.\r\n", "", bare},
        {"CR dot CR, normalized", cr_norm, lf_norm, "a\r.\rb\r\n.\r\n", "a\r\n.\r\nb\r\n", ok},
        {"CRLF dot CR, rejected", cr_rej, lf_norm, "a\r\n.\rb\r\n.\r\n", "", bare},
        {"CRLF dot CR, normalized", cr_norm, lf_norm, "a\r\n.\rb\r\n.\r\n", "a\r\n.\r\nb\r\n", ok},
        {"LF dot LF, LF rejected", cr_rej, lf_rej, "a\n.\nb\r\n.\r\n", "", bare},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto s = base_settings();
        s.bare_cr = c.cr;
        s.bare_lf = c.lf;
        harness h(s);
        EXPECT_EQ(open_data(h), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"s + std::string(k354));
        EXPECT_EQ(h.feed(c.body), action::need_input);
        EXPECT_EQ(h.out(), c.client);
        EXPECT_FALSE(h.m.in_command());
        if (c.client == ok) {
            ASSERT_EQ(h.bodies.size(), 1u);
            EXPECT_EQ(h.bodies[0], c.spooled);
            EXPECT_TRUE(h.take_batches().empty());
        } else {
            EXPECT_TRUE(h.bodies.empty());
            // The relay holds our MAIL and RCPT: a silent RSET, no reply for it.
            EXPECT_EQ(h.take_batches(), (batch_list{{"RSET"}}));
        }
        // The session goes on with a new transaction.
        h.feed("MAIL FROM:<a@b.example>\r\n");
        EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n");
    }
}

// The smuggled "second message" never reaches the relay as commands.
TEST(submission_machine, smuggled_transaction_stays_inside_the_message) {
    for (std::string seq : {"\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r"}) {
        SCOPED_TRACE(::testing::PrintToString(seq));
        auto s = base_settings();
        s.bare_cr = smtp::bare_cr_policy::normalize;
        harness h(s);
        open_data(h);
        std::string smuggled =
            "MAIL FROM:<evil@b.example>\r\nRCPT TO:<victim@d.example>\r\nDATA\r\nevil\r\n";
        h.feed("hello" + seq + smuggled + ".\r\nNOOP\r\n");
        EXPECT_EQ(h.out(), "250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 OK\r\n");
        EXPECT_TRUE(h.take_batches().empty());
        ASSERT_EQ(h.bodies.size(), 1u);
        EXPECT_NE(h.bodies[0].find("MAIL FROM:<evil@b.example>\r\n"), std::string::npos);
        EXPECT_TRUE(h.bodies[0].ends_with("evil\r\n"));
        EXPECT_TRUE(h.bodies[0].starts_with("hello\r\n"));
    }
}

TEST(submission_machine, bare_cr_reply_only_after_the_end) {
    harness h;
    open_data(h);
    EXPECT_EQ(h.feed("a\rb\r\nmore\r\n"), action::need_input);
    EXPECT_EQ(h.out(), "");
    EXPECT_TRUE(h.take_batches().empty());
    EXPECT_TRUE(h.m.in_command());
    EXPECT_EQ(h.feed(".\r\n"), action::need_input);
    EXPECT_EQ(h.out(), "554 5.6.0 Message contains a bare CR or LF\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"RSET"}}));
}

TEST(submission_machine, oversize_read_to_the_end_then_a_good_message) {
    harness h;  // max_message_size 1000
    open_data(h);
    std::string line(98, 'x');
    line += "\r\n";  // 100 bytes
    std::string big;
    for (int i = 0; i < 11; ++i)
        big += line;
    EXPECT_EQ(h.feed(big), action::need_input);
    EXPECT_EQ(h.out(), "");  // nothing before the end: its lines are not commands
    EXPECT_TRUE(h.m.in_command());
    EXPECT_EQ(h.feed("MAIL FROM:<x@y>\r\n.\r\n"), action::need_input);
    EXPECT_EQ(h.out(), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"RSET"}}));
    EXPECT_TRUE(h.bodies.empty());
    // A good message in the same session.
    EXPECT_EQ(open_data(h), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"s + std::string(k354));
    h.feed("small\r\n.\r\n");
    EXPECT_EQ(h.out(), "250 2.0.0 Ok: queued as Q1\r\n");
    ASSERT_EQ(h.bodies.size(), 1u);
    EXPECT_EQ(h.bodies[0], "small\r\n");
}

TEST(submission_machine, message_size_limit_boundary) {
    for (std::size_t size : {999u, 1000u, 1001u}) {
        SCOPED_TRACE(size);
        harness h;
        open_data(h);
        std::string body(size - 2, 'y');
        body += "\r\n";
        h.feed(body + ".\r\n");
        if (size <= 1000) {
            EXPECT_EQ(h.out(), "250 2.0.0 Ok: queued as Q1\r\n");
            ASSERT_EQ(h.bodies.size(), 1u);
            EXPECT_EQ(h.bodies[0], body);
        } else {
            EXPECT_EQ(h.out(), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
            EXPECT_TRUE(h.bodies.empty());
        }
    }
}

TEST(submission_machine, message_larger_than_the_memory_window_goes_whole) {
    auto s = base_settings();
    s.max_message_size = 100000;
    harness h(s);  // the spool window is 64 bytes
    open_data(h);
    std::string body;
    for (int i = 0; i < 500; ++i)
        body += "line " + std::to_string(i) + "\r\n";
    h.feed(body + ".\r\n");
    EXPECT_EQ(h.out(), "250 2.0.0 Ok: queued as Q1\r\n");
    ASSERT_EQ(h.bodies.size(), 1u);
    EXPECT_EQ(h.bodies[0], body);
}

// The same dialog, with every kind of message ending, in every split:
// identical client output and relay traffic (the batches may be cut
// differently, since the machine sends what the client has sent so far).
struct dialog_result {
    std::string client;
    std::vector<std::string> traffic;
    bool operator==(const dialog_result&) const = default;
};

void PrintTo(const dialog_result& r, std::ostream* os) {
    *os << "client=" << ::testing::PrintToString(r.client)
        << " traffic=" << ::testing::PrintToString(r.traffic);
}

TEST(submission_machine, dialog_is_the_same_however_the_input_is_split) {
    auto s = base_settings();
    s.max_message_size = 40;
    const std::string dialog =
        "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<bad@d.example>\r\nDATA\r\n"
        "..a\n.\nb\r\n.\nc\n.\r\nd\r\n"
        ".\r\n"
        "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
        "x\r.\ry\r\n.\r\n"  // bare CR: refused
        "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
        "0123456789012345678901234567890123456789012345\r\n.\r\n"  // too big
        "NOOP\r\nRSET\r\nQUIT\r\nNOOP\r\n";
    auto run = [&](const test::pieces& parts) {
        harness h(s);
        h.by_line["RCPT TO:<bad@d.example>"] = rr("550 5.1.1 unknown\r\n");
        for (auto p : parts) {
            if (h.feed(p) == action::close) break;
        }
        return dialog_result{h.out(), h.traffic};
    };
    const dialog_result want{
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown\r\n"s + std::string(k354) +
            "250 2.0.0 Ok: queued as Q1\r\n"
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" +
            std::string(k354) +
            "554 5.6.0 Message contains a bare CR or LF\r\n"
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" +
            std::string(k354) +
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
            "250 2.0.0 OK\r\n250 2.0.0 Reset state\r\n221 2.0.0 Bye\r\n",
        {"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "RCPT TO:<bad@d.example>",
         "<message MAIL FROM:<a@b.example> | RCPT TO:<c@d.example>>.a\r\n.\r\nb\r\n.\r\nc\r\n."
         "\r\nd\r\n",
         "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "RSET", "MAIL FROM:<a@b.example>",
         "RCPT TO:<c@d.example>", "RSET"}};
    EXPECT_EQ(run({dialog}), want);
    test::expect_same_for_all_splits(dialog, want, run);
}

// BDAT chunks pipelined with commands, an empty last chunk, and a chunk that
// looks like commands and an end of data, in every split.
TEST(submission_machine, bdat_dialog_is_the_same_however_the_input_is_split) {
    const std::string dialog =
        "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
        "BDAT 14\r\n.\r\nRSET\r\nab\rc\n"
        "BDAT 0 LAST\r\n"
        "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 2 LAST\r\nz\n"
        "NOOP\r\n";
    auto run = [&](const test::pieces& parts) {
        harness h;
        for (auto p : parts)
            h.feed(p);
        return dialog_result{h.out(), h.traffic};
    };
    const dialog_result want{
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 14 octets received\r\n"
        "250 2.0.0 Ok: queued as Q1\r\n"
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 OK\r\n",
        {"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>",
         "<message MAIL FROM:<a@b.example> | RCPT TO:<c@d.example>>.\r\nRSET\r\nab\rc\n",
         "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>",
         "<message MAIL FROM:<a@b.example> | RCPT TO:<c@d.example>>z\n"}};
    EXPECT_EQ(run({dialog}), want);
    test::expect_same_for_all_splits(dialog, want, run);
}

// ---------------------------------------------------------------------------
// Session commands

TEST(submission_machine, rset_with_an_open_transaction_resets_the_relay_silently) {
    harness h;
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n");
    h.out();
    h.take_batches();
    h.feed("RSET\r\n");
    EXPECT_EQ(h.out(), "250 2.0.0 Reset state\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"RSET"}}));
    h.feed("DATA\r\n");
    EXPECT_EQ(h.out(), "503 5.5.1 MAIL first\r\n");
}

TEST(submission_machine, rset_pipelined_with_a_new_transaction) {
    harness h;
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n");
    h.out();
    h.take_batches();
    h.feed("RSET\r\nMAIL FROM:<x@b.example>\r\nRCPT TO:<c@d.example>\r\n");
    EXPECT_EQ(h.take_batches(),
              (batch_list{{"RSET", "MAIL FROM:<x@b.example>", "RCPT TO:<c@d.example>"}}));
    EXPECT_EQ(h.out(), "250 2.0.0 Reset state\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
}

TEST(submission_machine, rset_without_a_transaction_stays_local) {
    harness h;
    h.feed("RSET\r\n");
    EXPECT_EQ(h.out(), "250 2.0.0 Reset state\r\n");
    // A MAIL held, never sent: nothing to reset at the relay.
    h.fallback = nullptr;
    h.feed("MAIL FROM:<a@b.example>\r\nRSET\r\n");
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n250 2.0.0 Reset state\r\n");
    EXPECT_TRUE(h.take_batches().empty());
    // A MAIL the relay refused: no transaction there either.
    h.by_line["MAIL FROM:<a@b.example>"] = rr("550 5.7.1 No\r\n");
    h.by_line["RCPT TO:<c@d.example>"] = rr("503 5.5.1 MAIL first\r\n");
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRSET\r\n");
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n550 5.7.1 No\r\n250 2.0.0 Reset state\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}}));
}

TEST(submission_machine, ehlo_ends_a_transaction) {
    auto s = base_settings();
    harness h(s);
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n");
    h.out();
    h.take_batches();
    h.feed("EHLO again.test\r\n");
    std::string o = h.out();
    EXPECT_TRUE(o.starts_with("250-mx.test\r\n")) << o;
    EXPECT_EQ(h.take_batches(), (batch_list{{"RSET"}}));
    EXPECT_EQ(h.m.session().helo, "again.test");
    h.feed("HELO other.test\r\n");
    EXPECT_EQ(h.out(), "250 mx.test\r\n");
    EXPECT_TRUE(h.take_batches().empty());
    h.feed("EHLO\r\n");
    EXPECT_EQ(h.out(), "501 5.5.4 Syntax: EHLO domain\r\n");
}

struct local_case {
    std::string name;
    bool tls;
    std::string line;
    std::string client;
};

TEST(submission_machine, local_commands_table) {
    const std::vector<local_case> cases = {
        {"NOOP", true, "NOOP", "250 2.0.0 OK\r\n"},
        {"NOOP with argument", true, "NOOP x", "250 2.0.0 OK\r\n"},
        {"HELP", true, "HELP",
         "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY QUIT\r\n"},
        {"VRFY, relay without VRFY", true, "VRFY bob",
         "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"},
        {"VRFY without argument", true, "VRFY", "501 5.5.4 Syntax: VRFY address\r\n"},
        {"AUTH", true, "AUTH PLAIN AGEAYg==", "503 5.5.1 Already authenticated\r\n"},
        {"STARTTLS under TLS", true, "STARTTLS", "502 5.5.1 TLS already active\r\n"},
        {"STARTTLS without TLS", false, "STARTTLS",
         "503 5.5.1 STARTTLS not allowed after AUTH\r\n"},
        {"BURL", true, "BURL imap://x LAST", "502 5.5.1 Command not implemented\r\n"},
        {"EXPN", true, "EXPN list", "502 5.5.1 Command not implemented\r\n"},
        {"ETRN", true, "ETRN x", "502 5.5.1 Command not implemented\r\n"},
        {"unknown", true, "FOO bar", "500 5.5.1 Unknown command\r\n"},
        {"lower case", true, "noop", "250 2.0.0 OK\r\n"},
        {"empty line", true, "", "500 5.5.2 Invalid command syntax\r\n"},
        {"NUL in line", true, "NO\0OP"s, "500 5.5.2 Invalid command syntax\r\n"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        harness h(base_settings(), c.tls);
        h.fallback = nullptr;  // nothing may reach the relay
        EXPECT_EQ(h.feed(c.line + "\r\n"), action::need_input);
        EXPECT_EQ(h.out(), c.client);
        EXPECT_TRUE(h.take_batches().empty());
    }
}

TEST(submission_machine, bdat_chunks_in_the_same_packet_as_commands) {
    // RFC 3030: the chunk's bytes follow the line at once, whatever they hold
    // (here an "end of data" and a command), and the next command follows them.
    harness h;
    std::string chunk1 = "Subject: x\r\n\r\n.\r\nQUIT\r\n";
    std::string chunk2 = "tail\r\n";
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT " +
           std::to_string(chunk1.size()) + "\r\n" + chunk1 + "BDAT " +
           std::to_string(chunk2.size()) + " LAST\r\n" + chunk2 + "NOOP\r\n");
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 " +
                           std::to_string(chunk1.size()) +
                           " octets received\r\n250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 OK\r\n");
    ASSERT_EQ(h.bodies.size(), 1u);
    EXPECT_EQ(h.bodies[0], chunk1 + chunk2);
}

TEST(submission_machine, bdat_refusals_read_the_chunk) {
    harness h;
    // Without a transaction: 503, and the chunk's bytes are not commands.
    h.feed("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
    EXPECT_EQ(h.out(), "503 5.5.1 MAIL first\r\n250 2.0.0 OK\r\n");
    // Extra arguments: 501, chunk dropped.
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 3 NOW\r\nabcNOOP\r\n");
    EXPECT_EQ(h.out(),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n501 5.5.4 Syntax: BDAT size [LAST]\r\n"
              "250 2.0.0 OK\r\n");
    // DATA after BDAT: 503.
    h.feed("BDAT 3\r\nabcDATA\r\n");
    EXPECT_EQ(h.out(), "250 2.0.0 3 octets received\r\n503 5.5.1 DATA not allowed after BDAT\r\n");
    // An unparseable size: 501, then the connection closes.
    EXPECT_EQ(h.feed("BDAT x LAST\r\n"), action::close);
    EXPECT_NE(h.out().find("501 5.5.4 Syntax: BDAT size [LAST]\r\n"), std::string::npos);
}

TEST(submission_machine, bdat_over_the_limit_then_503_until_rset) {
    auto s = base_settings();
    s.max_message_size = 10;
    harness h(s);
    h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 12\r\n0123456789ab");
    EXPECT_EQ(h.out(),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n552 5.3.4 Message size exceeds fixed maximum "
              "message size\r\n");
    h.feed("BDAT 1 LAST\r\nx");
    EXPECT_EQ(h.out(), "503 5.5.1 An earlier chunk was refused: RSET first\r\n");
    h.feed("RSET\r\n");
    EXPECT_EQ(h.out(), "250 2.0.0 Reset state\r\n");
    EXPECT_TRUE(h.bodies.empty());
}

TEST(submission_machine, vrfy_forwarded_when_the_relay_offers_it) {
    auto s = base_settings();
    s.relay.vrfy = true;
    harness h(s);
    h.script.push_back(rr("250 2.1.5 Bob <bob@d.example>\r\n"));
    h.script.push_back(rr("550 No such user\r\n"));
    h.feed("VRFY bob\r\nVRFY nobody\r\n");
    // Only MAIL and RCPT are grouped: the second VRFY waits for the first's reply.
    EXPECT_EQ(h.take_batches(), (batch_list{{"VRFY bob"}, {"VRFY nobody"}}));
    EXPECT_EQ(h.out(), "250 2.1.5 Bob <bob@d.example>\r\n550 5.0.0 No such user\r\n");
    // Not when no relay is configured.
    s.relay_configured = false;
    harness g(s);
    g.feed("VRFY bob\r\n");
    EXPECT_EQ(g.out(),
              "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n");
}

TEST(submission_machine, quit_closes_and_nothing_after_it_runs) {
    harness h;
    h.fallback = nullptr;
    EXPECT_EQ(h.feed("QUIT\r\nNOOP\r\n"), action::close);
    EXPECT_EQ(h.out(), "221 2.0.0 Bye\r\n");
    EXPECT_EQ(h.m.close_reason(), "quit");
    std::size_t consumed = 0;
    EXPECT_EQ(h.m.on_input("NOOP\r\n", consumed), action::close);
    EXPECT_EQ(h.m.output(), "");
}

TEST(submission_machine, quit_after_a_pipelined_group) {
    harness h;
    EXPECT_EQ(h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nQUIT\r\n"),
              action::close);
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}}));
}

TEST(submission_machine, bad_command_limit) {
    harness h;  // max_bad_commands 5
    EXPECT_EQ(h.feed("FOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nNOOP\r\n"), action::close);
    EXPECT_EQ(h.out(),
              "500 5.5.1 Unknown command\r\n500 5.5.1 Unknown command\r\n"
              "500 5.5.1 Unknown command\r\n500 5.5.1 Unknown command\r\n"
              "500 5.5.1 Unknown command\r\n"
              "421 4.7.0 mx.test Too many bad commands, closing connection\r\n");
    EXPECT_EQ(h.m.close_reason(), "too-many-bad-commands");
}

TEST(submission_machine, good_commands_reset_the_bad_command_count) {
    harness h;
    h.feed("FOO\r\nFOO\r\nFOO\r\nFOO\r\nMAIL FROM:<a@b.example>\r\n");
    h.out();
    EXPECT_EQ(h.feed("FOO\r\nFOO\r\nFOO\r\nFOO\r\n"), action::need_input);
    EXPECT_EQ(h.feed("RSET\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\n"), action::need_input);
    EXPECT_EQ(h.feed("FOO\r\n"), action::close);
}

TEST(submission_machine, bad_command_limit_inside_a_group_keeps_the_order) {
    harness h;
    EXPECT_EQ(h.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<b@d.example>\r\nRCPT TO:x\r\n"
                     "RCPT TO:x\r\nRCPT TO:x\r\nRCPT TO:x\r\nRCPT TO:x\r\n"
                     "RCPT TO:<c@d.example>\r\n"),
              action::close);
    const std::string bad = "501 5.5.4 Syntax: RCPT TO:<address> [parameters]\r\n";
    EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + bad + bad + bad + bad + bad +
                           "421 4.7.0 mx.test Too many bad commands, closing connection\r\n");
    EXPECT_EQ(h.take_batches(), (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<b@d.example>"}}));
}

TEST(submission_machine, line_too_long_then_next_command) {
    harness h;  // max_command_line 512
    h.feed("NOOP " + std::string(2000, 'x') + "\r\nNOOP\r\n");
    EXPECT_EQ(h.out(), "500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n");
}

TEST(submission_machine, line_too_long_is_one_error_however_split) {
    const std::string dialog = "NOOP " + std::string(600, 'x') + "\r\nNOOP\r\n";
    auto run = [&](const test::pieces& parts) {
        harness h;
        h.fallback = nullptr;
        for (auto p : parts)
            h.feed(p);
        return h.out();
    };
    test::expect_same_for_all_splits(dialog, "500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"s, run);
}

TEST(submission_machine, in_command_tracks_a_partial_command) {
    harness h;
    h.feed("NO");
    EXPECT_TRUE(h.m.in_command());
    h.feed("OP\r\n");
    EXPECT_FALSE(h.m.in_command());
    EXPECT_EQ(h.out(), "250 2.0.0 OK\r\n");
    open_data(h);
    EXPECT_TRUE(h.m.in_command());  // inside DATA
    h.feed("x\r\n.\r\n");
    EXPECT_FALSE(h.m.in_command());
}

// After an overlong command line whose CRLF is the last byte read, nothing of
// a command is held: the idle timeout (not the old line's command deadline)
// must run, and a shutdown must end the wait at once.
TEST(submission_machine, in_command_is_false_after_an_overlong_line_ends) {
    harness h;
    h.feed("NOOP " + std::string(600, 'x') + "\r\n");
    EXPECT_EQ(h.out(), "500 5.5.2 Line too long\r\n");
    EXPECT_FALSE(h.m.in_command());
}

TEST(submission_machine, lenient_path_options) {
    {
        harness h;
        h.feed("MAIL FROM: <a@b.example>\r\nMAIL FROM:a@b.example\r\n");
        EXPECT_EQ(h.out(),
                  "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n"
                  "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n");
        EXPECT_TRUE(h.take_batches().empty());
    }
    {
        auto s = base_settings();
        s.path.whitespace_before_path = true;
        s.path.mailbox_for_path = true;
        harness h(s);
        h.feed("MAIL FROM: <a@b.example>\r\nRCPT TO:c@d.example\r\n");
        EXPECT_EQ(h.out(), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
        EXPECT_EQ(h.take_batches(),
                  (batch_list{{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}}));
    }
}

TEST(submission_machine, timeout_and_shutdown) {
    {
        harness h;
        h.m.on_timeout();
        EXPECT_EQ(h.out(), "421 4.4.2 mx.test Idle timeout, closing connection\r\n");
        EXPECT_EQ(h.m.close_reason(), "timeout");
        EXPECT_EQ(h.feed("NOOP\r\n"), action::close);
        EXPECT_EQ(h.out(), "");
    }
    {
        // Half a command line: the command deadline cut it off.
        harness h;
        EXPECT_EQ(h.feed("MAIL FROM:<a@b.exa"), action::need_input);
        h.m.on_timeout();
        EXPECT_EQ(h.out(), "421 4.4.2 mx.test Command timeout, closing connection\r\n");
        EXPECT_EQ(h.m.close_reason(), "timeout");
    }
    {
        harness h;
        h.m.on_shutdown();
        EXPECT_EQ(h.out(), "421 4.3.2 mx.test Server shutting down\r\n");
        EXPECT_EQ(h.m.close_reason(), "shutdown");
        EXPECT_EQ(h.feed("NOOP\r\n"), action::close);
    }
    {
        // Mid-message: the 421, and nothing goes to the relay.
        harness h;
        open_data(h);
        h.feed("partial message\r\n");
        h.m.on_timeout();
        EXPECT_EQ(h.out(), "421 4.4.2 mx.test Idle timeout, closing connection\r\n");
        EXPECT_EQ(h.feed(".\r\n"), action::close);
        EXPECT_TRUE(h.bodies.empty());
        EXPECT_TRUE(h.take_batches().empty());
    }
}

TEST(submission_machine, commands_are_counted) {
    harness h;
    h.feed("NOOP\r\nFOO\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\n");
    EXPECT_EQ(h.m.commands(), 5u);
}

// ---------------------------------------------------------------------------
// BURL (RFC 4468)

const std::string k_token(42, 'a');

std::string urlauth_url(std::string_view access = "submit+alice",
                        std::string_view host = "127.0.0.1:1143") {
    return fmt::format("imap://alice@{}/INBOX;UIDVALIDITY=17/;UID=3;urlauth={}:internal:{}", host,
                       access, k_token);
}

submission_settings burl_settings(bool urlauth = true, bool trusted = false) {
    auto s = base_settings();
    s.burl_servers.push_back({"127.0.0.1", 1143, urlauth, trusted});
    return s;
}

burl_result fetched(burl_status status, std::string octets = "") {
    return burl_result{status, std::move(octets)};
}

constexpr std::string_view k_tx = "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n";
constexpr std::string_view k_tx_ok = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n";

TEST(submission_machine, burl_not_offered_without_servers) {
    harness h;
    h.feed(std::string(k_tx) + "BURL " + urlauth_url() + " LAST\r\n");
    EXPECT_EQ(h.out(), std::string(k_tx_ok) + "502 5.5.1 Command not implemented\r\n");
    EXPECT_TRUE(h.fetches.empty());
}

TEST(submission_machine, burl_urlauth_last_sends_the_fetched_message) {
    harness h(burl_settings());
    std::string message = "Subject: hi\r\n\r\n.\r\nbody\r\n";
    h.fetch_results.push_back(fetched(burl_status::ok, message));
    // Pipelined: the NOOP after BURL is answered after BURL's reply.
    h.feed(std::string(k_tx) + "BURL " + urlauth_url() + " LAST\r\nNOOP\r\n");
    EXPECT_EQ(h.out(), std::string(k_tx_ok) + "250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 OK\r\n");
    ASSERT_EQ(h.fetches.size(), 1u);
    EXPECT_TRUE(h.fetches[0].urlauth);
    EXPECT_EQ(h.fetches[0].url.text, urlauth_url());
    EXPECT_EQ(h.fetches[0].max_size, 1000u);
    ASSERT_EQ(h.bodies.size(), 1u);
    EXPECT_EQ(h.bodies[0], message);
}

TEST(submission_machine, burl_mixes_with_bdat) {
    harness h(burl_settings());
    std::string header = "X-Extra: 1\r\n";
    h.fetch_results.push_back(fetched(burl_status::ok, "Subject: a\r\n"));
    h.fetch_results.push_back(fetched(burl_status::ok, "\r\nbody\r\n"));
    h.feed(std::string(k_tx) + "BDAT " + std::to_string(header.size()) + "\r\n" + header + "BURL " +
           urlauth_url() + "\r\nBURL " + urlauth_url() + " LAST\r\n");
    EXPECT_EQ(h.out(), std::string(k_tx_ok) + "250 2.0.0 12 octets received\r\n" +
                           "250 2.0.0 12 octets received\r\n250 2.0.0 Ok: queued as Q1\r\n");
    ASSERT_EQ(h.fetches.size(), 2u);
    EXPECT_EQ(h.fetches[1].max_size, 1000u - 24u);  // what the spool can still take
    ASSERT_EQ(h.bodies.size(), 1u);
    EXPECT_EQ(h.bodies[0], header + "Subject: a\r\n\r\nbody\r\n");
    // DATA after BURL is refused like DATA after BDAT.
    h.fetch_results.push_back(fetched(burl_status::ok, "x"));
    h.feed(std::string(k_tx) + "BURL " + urlauth_url() + "\r\nDATA\r\n");
    EXPECT_EQ(h.out(),
              std::string(k_tx_ok) +
                  "250 2.0.0 1 octets received\r\n503 5.5.1 DATA not allowed after BDAT\r\n");
}

TEST(submission_machine, burl_refusals_before_any_connection) {
    struct refusal {
        std::string name;
        std::string args;
        std::string reply;
    };
    std::vector<refusal> cases = {
        {"malformed", "imap://alice@127.0.0.1:1143/INBOX", "501 5.5.4 Invalid IMAP URL"},
        {"not imap", "http://127.0.0.1:1143/INBOX/;UID=1", "501 5.5.4 Invalid IMAP URL"},
        {"bad end marker", urlauth_url() + " NOW", "501 5.5.4 Syntax: BURL imap-url [LAST]"},
        {"no url", "", "501 5.5.4 Syntax: BURL imap-url [LAST]"},
        {"other host", urlauth_url("submit+alice", "evil.example:1143") + " LAST",
         "554 5.7.14 No trust relationship with that IMAP server"},
        {"other port", urlauth_url("submit+alice", "127.0.0.1:143") + " LAST",
         "554 5.7.14 No trust relationship with that IMAP server"},
        {"another user's access", urlauth_url("submit+bob") + " LAST",
         "554 5.7.0 URL is not authorized for this submission user"},
        {"prefix of the login", urlauth_url("submit+alic") + " LAST",
         "554 5.7.0 URL is not authorized for this submission user"},
        {"user+ access", urlauth_url("user+alice") + " LAST",
         "554 5.7.0 URL is not authorized for this submission user"},
        {"anonymous access", urlauth_url("anonymous") + " LAST",
         "554 5.7.0 URL is not authorized for this submission user"},
        {"no urlauth, server not trusted", "imap://alice@127.0.0.1:1143/INBOX/;UID=3 LAST",
         "554 5.7.14 No trust relationship with that IMAP server"},
    };
    for (const auto& c : cases) {
        harness h(burl_settings());
        h.feed(std::string(k_tx) + "BURL " + c.args + "\r\nNOOP\r\n");
        EXPECT_EQ(h.out(), std::string(k_tx_ok) + c.reply + "\r\n250 2.0.0 OK\r\n") << c.name;
        EXPECT_TRUE(h.fetches.empty()) << c.name;
    }
}

TEST(submission_machine, burl_sequence_errors) {
    harness h(burl_settings());
    h.feed("BURL " + urlauth_url() + " LAST\r\n");
    EXPECT_EQ(h.out(), "503 5.5.1 MAIL first\r\n");
    h.script.push_back(rr("250 2.1.0 Ok\r\n"));
    h.script.push_back(rr("550 5.1.1 No such user\r\n"));
    h.feed(std::string(k_tx) + "BURL " + urlauth_url() + " LAST\r\n");
    EXPECT_EQ(h.out(),
              "250 2.1.0 Ok\r\n550 5.1.1 No such user\r\n503 5.5.1 No valid recipients\r\n");
    EXPECT_TRUE(h.fetches.empty());
}

TEST(submission_machine, burl_fetch_failures) {
    struct failure_case {
        burl_status status;
        std::string reply;
    };
    for (const auto& c : std::vector<failure_case>{
             {burl_status::nil, "554 5.6.6 IMAP URL resolution failed"},
             {burl_status::unavailable, "451 4.4.1 IMAP server unavailable, try again later"},
             {burl_status::too_big, "552 5.3.4 Message size exceeds fixed maximum message size"},
         }) {
        harness h(burl_settings());
        h.fetch_results.push_back(fetched(c.status));
        h.feed(std::string(k_tx) + "BURL " + urlauth_url() + " LAST\r\n");
        EXPECT_EQ(h.out(), std::string(k_tx_ok) + c.reply + "\r\n");
        // The message lacks a part: later chunks are refused until RSET.
        h.feed("BDAT 1 LAST\r\nx");
        EXPECT_EQ(h.out(), "503 5.5.1 An earlier chunk was refused: RSET first\r\n");
        h.feed("RSET\r\n");
        EXPECT_EQ(h.out(), "250 2.0.0 Reset state\r\n");
        EXPECT_TRUE(h.bodies.empty());
    }
}

TEST(submission_machine, burl_fetched_part_over_the_limit) {
    auto s = burl_settings();
    s.max_message_size = 10;
    harness h(s);
    h.fetch_results.push_back(fetched(burl_status::ok, "0123456789ab"));
    h.feed(std::string(k_tx) + "BURL " + urlauth_url() + " LAST\r\n");
    EXPECT_EQ(h.out(), std::string(k_tx_ok) +
                           "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_TRUE(h.bodies.empty());
}

TEST(submission_machine, burl_trusted_fetches_only_the_logins_own_mailbox) {
    harness h(burl_settings(false, true));
    h.fetch_results.push_back(fetched(burl_status::ok, "m"));
    h.feed(std::string(k_tx) +
           "BURL imap://alice@127.0.0.1:1143/Entw%C3%BCrfe;UIDVALIDITY=9/;UID=4/;SECTION=1.2 "
           "LAST\r\n");
    EXPECT_EQ(h.out(), std::string(k_tx_ok) + "250 2.0.0 Ok: queued as Q1\r\n");
    ASSERT_EQ(h.fetches.size(), 1u);
    EXPECT_FALSE(h.fetches[0].urlauth);
    EXPECT_EQ(h.fetches[0].mailbox, "Entw&APw-rfe");
    EXPECT_EQ(h.fetches[0].url.uidvalidity, 9u);
    EXPECT_EQ(h.fetches[0].url.uid, 4u);
    EXPECT_EQ(h.fetches[0].url.section, "1.2");
    // Another user's mailbox, without URLAUTH: refused, nothing fetched.
    h.feed(std::string(k_tx) + "BURL imap://bob@127.0.0.1:1143/INBOX/;UID=4 LAST\r\n");
    EXPECT_EQ(h.out(), std::string(k_tx_ok) +
                           "554 5.7.0 URL without URLAUTH must name your own mailbox\r\n");
    // A URLAUTH URL for the login on a trusted-only server: its own message, fetched as the login.
    h.fetch_results.push_back(fetched(burl_status::ok, "n"));
    h.feed("RSET\r\n" + std::string(k_tx) + "BURL " + urlauth_url() + " LAST\r\n");
    EXPECT_EQ(h.out(), "250 2.0.0 Reset state\r\n" + std::string(k_tx_ok) +
                           "250 2.0.0 Ok: queued as Q1\r\n");
    ASSERT_EQ(h.fetches.size(), 2u);
    EXPECT_FALSE(h.fetches[1].urlauth);
    // A section that cannot go into BODY.PEEK[] as it is.
    h.feed(std::string(k_tx) +
           "BURL imap://alice@127.0.0.1:1143/INBOX/;UID=4/;SECTION=1%5D LAST\r\n");
    EXPECT_EQ(h.out(), std::string(k_tx_ok) + "501 5.5.4 Invalid IMAP URL\r\n");
    EXPECT_EQ(h.fetches.size(), 2u);
}

TEST(submission_machine, burl_dialog_is_the_same_however_the_input_is_split) {
    std::string input =
        std::string(k_tx) + "BDAT 3\r\nabcBURL " + urlauth_url() + " LAST\r\nNOOP\r\nQUIT\r\n";
    harness whole(burl_settings());
    whole.fetch_results.push_back(fetched(burl_status::ok, "def"));
    whole.feed(input);
    std::string expected = whole.out();
    ASSERT_EQ(whole.bodies, std::vector<std::string>{"abcdef"});
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
        harness h(burl_settings());
        h.fetch_results.push_back(fetched(burl_status::ok, "def"));
        h.feed(input.substr(0, cut));
        h.feed(input.substr(cut));
        EXPECT_EQ(h.out(), expected) << "cut at " << cut;
        EXPECT_EQ(h.bodies, whole.bodies) << "cut at " << cut;
    }
}

}  // namespace
}  // namespace submitd::submission
