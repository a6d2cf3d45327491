// Post-login session commands; see submission_machine.hpp.
#include "submission/submission_machine.hpp"

#include "core/log.hpp"
#include "smtp/reply.hpp"

namespace submitd::submission {

submission_machine::submission_machine(const submission_settings& settings, ipc::handoff handoff)
    : settings_(settings), handoff_(std::move(handoff)), reader_(settings.max_command_line) {}

action submission_machine::on_input(std::string_view in, std::size_t& consumed) {
    consumed = 0;
    while (!closed_ && consumed < in.size()) {
        auto r = reader_.parse(std::span<const char>(in.data() + consumed, in.size() - consumed));
        consumed += r.consumed;
        action next = action::need_input;
        switch (r.status) {
            case smtp::line_status::need_more:
                partial_ = partial_ || r.consumed > 0;
                return action::need_input;
            case smtp::line_status::line_too_long:
                partial_ = true;
                next = error(500, "5.5.2", "Line too long", "line-too-long");
                break;
            case smtp::line_status::complete:
                partial_ = false;
                next = dispatch(reader_.line());
                break;
        }
        if (next != action::need_input) return next;
    }
    return closed_ ? action::close : action::need_input;
}

action submission_machine::dispatch(std::string_view line) {
    ++commands_;
    auto parsed = smtp::parse_command(line);
    if (parsed.status != smtp::command_status::ok) {
        return error(500, "5.5.2", "Invalid command syntax", "bad-syntax");
    }
    const std::string& verb = parsed.cmd.verb;
    if (verb == "EHLO" || verb == "HELO") {
        if (parsed.cmd.args.empty()) return error(501, "5.5.4", "Syntax: EHLO domain", "bad-helo");
        handoff_.helo = std::string(parsed.cmd.args.substr(0, parsed.cmd.args.find(' ')));
        bad_commands_ = 0;
        if (verb == "HELO") return reply(250, "", settings_.capabilities.hostname);
        auto lines = smtp::ehlo_lines(settings_.capabilities);
        smtp::append_multiline(out_, 250, lines);
        return action::need_input;
    }
    if (verb == "NOOP" || verb == "RSET") return reply(250, "2.0.0", "OK");
    if (verb == "HELP")
        return reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT");
    if (verb == "QUIT") {
        reply(221, "2.0.0", "Bye");
        close_reason_ = "quit";
        closed_ = true;
        return action::close;
    }
    if (verb == "AUTH") return error(503, "5.5.1", "Already authenticated", "auth-twice");
    if (verb == "STARTTLS") {
        return handoff_.tls_version.empty()
                   ? error(503, "5.5.1", "STARTTLS not allowed after AUTH", "starttls-after-auth")
                   : error(502, "5.5.1", "TLS already active", "tls-active");
    }
    if (verb == "MAIL" || verb == "RCPT" || verb == "DATA" || verb == "BDAT" || verb == "BURL" ||
        verb == "VRFY") {
        bad_commands_ = 0;
        core::log_warn("relay-unavailable session={} command={}", handoff_.session_id, verb);
        return reply(451, "4.3.0", "Mail relay not available, try again later");
    }
    return error(500, "5.5.1", "Unknown command", "unknown-command");
}

action submission_machine::reply(int code, std::string_view enhanced, std::string_view text) {
    smtp::append_reply(out_, code, enhanced, text);
    return action::need_input;
}

action submission_machine::error(int code, std::string_view enhanced, std::string_view text,
                                 std::string_view log_reason) {
    smtp::append_reply(out_, code, enhanced, text);
    core::log_info("bad-command session={} reason={} reply=\"{} {}\"", handoff_.session_id,
                   log_reason, code, enhanced);
    if (++bad_commands_ >= settings_.max_bad_commands) {
        return close(421, "4.7.0", "Too many bad commands, closing connection",
                     "too-many-bad-commands");
    }
    return action::need_input;
}

action submission_machine::close(int code, std::string_view enhanced, std::string_view text,
                                 std::string_view reason) {
    smtp::append_reply(out_, code, enhanced,
                       settings_.capabilities.hostname + " " + std::string(text));
    close_reason_ = reason;
    closed_ = true;
    return action::close;
}

void submission_machine::on_timeout() {
    if (!closed_) close(421, "4.4.2", "Idle timeout, closing connection", "timeout");
}

void submission_machine::on_shutdown() {
    if (!closed_) close(421, "4.3.2", "Server shutting down", "shutdown");
}

}  // namespace submitd::submission
