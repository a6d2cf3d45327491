// The pre-login state machine's input loop, command table and replies; the
// commands with more to them live in cmd_<verb>.cpp. See login_machine.hpp.
#include "login/login_machine.hpp"

#include <algorithm>
#include <array>

#include "core/log.hpp"
#include "smtp/params.hpp"
#include "smtp/reply.hpp"

namespace submitd::login {

namespace {

enum class verb_kind { ehlo, helo, starttls, auth, noop, rset, quit, help, needs_auth, http };

struct command_row {
    std::string_view verb;
    verb_kind kind;
    bool is_junk;  ///< does not count as progress: leaves the bad-command count as it is
};

// RFC 5321 section 4.1 and the extensions we offer before login. MAIL and the
// other mail commands are only known after AUTH (RFC 6409 section 4.3).
// CONNECT, GET and POST are what a web client or proxy abuse sends first:
// such a peer is not an SMTP client and is dropped without a reply (Postfix's
// smtpd_forbidden_commands).
constexpr std::array<command_row, 18> command_table{{
    {"EHLO", verb_kind::ehlo, false},
    {"HELO", verb_kind::helo, false},
    {"STARTTLS", verb_kind::starttls, false},
    {"AUTH", verb_kind::auth, false},
    {"NOOP", verb_kind::noop, true},
    {"RSET", verb_kind::rset, true},
    {"QUIT", verb_kind::quit, true},
    {"HELP", verb_kind::help, true},
    {"MAIL", verb_kind::needs_auth, false},
    {"RCPT", verb_kind::needs_auth, false},
    {"DATA", verb_kind::needs_auth, false},
    {"BDAT", verb_kind::needs_auth, false},
    {"BURL", verb_kind::needs_auth, false},
    {"VRFY", verb_kind::needs_auth, false},
    {"EXPN", verb_kind::needs_auth, false},
    {"CONNECT", verb_kind::http, false},
    {"GET", verb_kind::http, false},
    {"POST", verb_kind::http, false},
}};

const command_row* find_command(std::string_view verb) {
    for (const auto& row : command_table) {
        if (row.verb == verb) return &row;
    }
    return nullptr;
}

}  // namespace

login_machine::login_machine(const login_settings& settings, client_facts facts, bool tls_active)
    : settings_(settings),
      facts_(std::move(facts)),
      tls_active_(tls_active),
      reader_(std::max(settings.max_command_line, settings.max_auth_line)) {}

void login_machine::greet() {
    smtp::append_reply(out_, 220, "", settings_.hostname + " ESMTP " + settings_.banner);
}

action login_machine::on_input(std::string_view in, std::size_t& consumed) {
    consumed = 0;
    while (state_ != state::closed) {
        if (state_ == state::checking || state_ == state::authenticated) return action::need_input;
        if (consumed == in.size()) return action::need_input;
        if (chunk_left_ > 0) {
            auto n = std::min<std::uint64_t>(chunk_left_, in.size() - consumed);
            consumed += static_cast<std::size_t>(n);
            chunk_left_ -= n;
            continue;
        }
        auto r = reader_.parse(std::span<const char>(in.data() + consumed, in.size() - consumed));
        consumed += r.consumed;
        action next = action::need_input;
        switch (r.status) {
            case smtp::line_status::need_more:
                partial_ = reader_.in_line();
                return action::need_input;
            case smtp::line_status::line_too_long:
                partial_ = reader_.in_line();
                if (state_ == state::sasl) {
                    state_ = state::greeted;
                    mech_.reset();
                }
                next = error(500, "5.5.2", "Line too long", "line-too-long");
                break;
            case smtp::line_status::complete:
                partial_ = false;
                next = state_ == state::sasl ? handle_sasl_line(reader_.line())
                                             : dispatch(reader_.line());
                break;
        }
        if (next != action::need_input) return next;
    }
    return action::close;
}

action login_machine::dispatch(std::string_view line) {
    ++commands_;
    auto parsed = smtp::parse_command(line);
    if (parsed.status == smtp::command_status::empty) {
        return error(500, "5.5.2", "Empty command", "empty-command");
    }
    if (parsed.status == smtp::command_status::bad_syntax) {
        return error(500, "5.5.2", "Invalid command syntax", "bad-syntax");
    }
    const command_row* row = find_command(parsed.cmd.verb);
    if (row != nullptr && row->kind == verb_kind::http) {
        close_reason_ = "http-request";
        state_ = state::closed;
        return action::close;
    }
    // The reader allows AUTH's longer lines; every other command is held to
    // max_command_line, whether we know its verb or not.
    bool is_auth = row != nullptr && row->kind == verb_kind::auth;
    if (!is_auth && line.size() > settings_.max_command_line) {
        return error(500, "5.5.2", "Line too long", "line-too-long");
    }
    if (row == nullptr) return error(500, "5.5.1", "Unknown command", "unknown-command");
    if (!row->is_junk) bad_commands_ = 0;
    std::string_view args = parsed.cmd.args;
    switch (row->kind) {
        case verb_kind::ehlo:
            return cmd_ehlo(args, true);
        case verb_kind::helo:
            return cmd_ehlo(args, false);
        case verb_kind::starttls:
            return cmd_starttls(args);
        case verb_kind::auth:
            return cmd_auth(args);
        case verb_kind::noop:
        case verb_kind::rset:  // nothing to reset before a transaction can exist
            return reply(250, "2.0.0", "OK");
        case verb_kind::help:
            return cmd_help();
        case verb_kind::quit:
            reply(221, "2.0.0", "Bye");
            close_reason_ = "quit";
            state_ = state::closed;
            return action::close;
        case verb_kind::needs_auth:
            if (parsed.cmd.verb == "BDAT") return cmd_bdat(args);
            return error(530, "5.7.0", "Authentication required", "auth-required");
        case verb_kind::http:
            break;
    }
    return action::need_input;
}

action login_machine::cmd_bdat(std::string_view args) {
    auto size = smtp::parse_bdat_size(args.substr(0, args.find(' ')));
    if (!size) {
        // The chunk's length is unknown: what follows cannot be told from commands.
        smtp::append_reply(out_, 501, "5.5.4", "Syntax: BDAT size [LAST]");
        core::log_info("bad-command session={} reason=bad-bdat-size reply=\"501 5.5.4\"",
                       facts_.session_id);
        return close(421, "4.7.0", "Cannot find the end of the chunk, closing connection",
                     "bad-bdat");
    }
    // Read within the command deadline (in_command()), then dropped.
    chunk_left_ = *size;
    return error(530, "5.7.0", "Authentication required", "auth-required");
}

action login_machine::reply(int code, std::string_view enhanced, std::string_view text) {
    smtp::append_reply(out_, code, enhanced, text);
    return action::need_input;
}

action login_machine::error(int code, std::string_view enhanced, std::string_view text,
                            std::string_view log_reason) {
    smtp::append_reply(out_, code, enhanced, text);
    core::log_info("bad-command session={} reason={} reply=\"{} {}\"", facts_.session_id,
                   log_reason, code, enhanced);
    if (++bad_commands_ >= settings_.max_bad_commands) {
        return close(421, "4.7.0", "Too many bad commands, closing connection",
                     "too-many-bad-commands");
    }
    return action::need_input;
}

action login_machine::close(int code, std::string_view enhanced, std::string_view text,
                            std::string_view reason) {
    smtp::append_reply(out_, code, enhanced, settings_.hostname + " " + std::string(text));
    close_reason_ = reason;
    state_ = state::closed;
    mech_.reset();
    return action::close;
}

void login_machine::on_tls_established(std::string version, std::string cipher) {
    tls_active_ = true;
    tls_version_ = std::move(version);
    tls_cipher_ = std::move(cipher);
    // RFC 3207 section 4.2: forget everything learnt before the handshake.
    state_ = state::fresh;
    helo_.clear();
    esmtp_ = false;
    reader_.reset();
    partial_ = false;
}

void login_machine::on_timeout() {
    if (state_ == state::closed) return;
    // A line begun and not finished met the command deadline (slowloris).
    close(421, "4.4.2",
          partial_ ? "Command timeout, closing connection" : "Idle timeout, closing connection",
          "timeout");
}

void login_machine::on_shutdown() {
    if (state_ == state::closed) return;
    close(421, "4.3.2", "Server shutting down", "shutdown");
}

ipc::handoff login_machine::take_handoff(std::string pending_input) {
    ipc::handoff h;
    h.session_id = facts_.session_id;
    h.listener = facts_.listener;
    h.remote_ip = facts_.remote_ip;
    h.remote_port = facts_.remote_port;
    h.local_ip = facts_.local_ip;
    h.local_port = facts_.local_port;
    h.tls_version = tls_version_;
    h.tls_cipher = tls_cipher_;
    h.user = user_;
    h.mechanism = mechanism_;
    h.helo = helo_;
    h.esmtp = esmtp_;
    h.pending_input = std::move(pending_input);
    return h;
}

}  // namespace submitd::login
