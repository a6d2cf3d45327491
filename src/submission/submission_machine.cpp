// The submission stage's input loop, command table, relay reply mapping and
// replies; MAIL, RCPT and DATA live in cmd_mail.cpp and cmd_data.cpp. See
// submission_machine.hpp.
#include "submission/submission_machine.hpp"

#include <fmt/format.h>

#include "core/log.hpp"
#include "smtp/reply.hpp"

namespace submitd::submission {

submission_machine::submission_machine(const submission_settings& settings, ipc::handoff handoff,
                                       spool& message_spool)
    : settings_(settings),
      handoff_(std::move(handoff)),
      spool_(message_spool),
      reader_(settings.max_command_line) {}

action submission_machine::on_input(std::string_view in, std::size_t& consumed) {
    consumed = 0;
    if (closed_) return action::close;
    return process(in, consumed);
}

action submission_machine::process(std::string_view in, std::size_t& consumed) {
    while (!closed_) {
        if (in_bdat_) {
            action a = take_chunk(in, consumed);
            if (in_bdat_ || a != action::need_input) return a;
            continue;
        }
        if (in_data_) {
            auto r = data_->decode(
                std::span<const char>(in.data() + consumed, in.size() - consumed), chunk_);
            consumed += r.consumed;
            if (!oversize_ && spool_.size() + chunk_.size() > settings_.max_message_size) {
                oversize_ = true;  // read on to the end, keep nothing (STYLE.md section 3)
            }
            if (!oversize_ && !chunk_.empty()) {
                if (auto ec = spool_.append(chunk_)) {
                    core::log_error("spool-failed session={} reason={}", handoff_.session_id,
                                    core::quoted(ec.message()));
                    oversize_ = true;  // answered as a local failure at the end
                    spool_failed_ = true;
                }
            }
            chunk_.clear();
            if (!r.done) return action::need_input;
            in_data_ = false;
            action a = finish_data();
            if (a != action::need_input) return a;
            continue;
        }
        if (deferred_) {
            if (group_pending()) return action::relay_commands;
            std::string line = std::move(*deferred_);
            deferred_.reset();
            dispatch(line);
            if (burl_) return action::fetch_url;
            continue;
        }
        if (consumed == in.size()) break;
        auto r = reader_.parse(std::span<const char>(in.data() + consumed, in.size() - consumed));
        consumed += r.consumed;
        switch (r.status) {
            case smtp::line_status::need_more:
                partial_ = reader_.in_line();
                break;
            case smtp::line_status::line_too_long:
                partial_ = reader_.in_line();
                error(500, "5.5.2", "Line too long", "line-too-long");
                continue;
            case smtp::line_status::complete:
                partial_ = false;
                if (!dispatch(reader_.line())) return action::relay_commands;
                if (burl_) return action::fetch_url;
                continue;
        }
        break;
    }
    if (closed_) return group_pending() ? action::relay_commands : action::close;
    if (in_data_ || in_bdat_) return action::need_input;
    // The client has nothing more for now: send what it pipelined.
    return group_pending() ? action::relay_commands : action::need_input;
}

bool submission_machine::dispatch(std::string_view line) {
    auto parsed = smtp::parse_command(line);
    if (parsed.status != smtp::command_status::ok) {
        ++commands_;
        error(500, "5.5.2", "Invalid command syntax", "bad-syntax");
        return true;
    }
    const std::string& verb = parsed.cmd.verb;
    std::string_view args = parsed.cmd.args;
    // MAIL and RCPT join the pending relay group; everything else is answered
    // in order after it, so it waits for the group's replies.
    bool groups = verb == "MAIL" || verb == "RCPT";
    if (!groups && group_pending()) {
        deferred_ = std::string(line);
        return false;
    }
    ++commands_;
    if (verb == "MAIL") {
        cmd_mail(args);
    } else if (verb == "RCPT") {
        cmd_rcpt(args);
    } else if (verb == "DATA") {
        cmd_data(args);
    } else if (verb == "RSET") {
        cmd_rset();
    } else if (verb == "NOOP") {
        reply(250, "2.0.0", "OK");
    } else if (verb == "VRFY") {
        cmd_vrfy(args);
    } else if (verb == "EHLO" || verb == "HELO") {
        cmd_ehlo(args, verb == "EHLO");
    } else if (verb == "HELP") {
        reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY QUIT");
    } else if (verb == "QUIT") {
        reply(221, "2.0.0", "Bye");
        close_reason_ = "quit";
        closed_ = true;  // the driver closes the relay connection: nothing half-sent remains
    } else if (verb == "AUTH") {
        error(503, "5.5.1", "Already authenticated", "auth-twice");
    } else if (verb == "STARTTLS") {
        if (handoff_.tls_version.empty()) {
            error(503, "5.5.1", "STARTTLS not allowed after AUTH", "starttls-after-auth");
        } else {
            error(502, "5.5.1", "TLS already active", "tls-active");
        }
    } else if (verb == "BDAT") {
        cmd_bdat(args);
    } else if (verb == "BURL" && !settings_.burl_servers.empty()) {
        cmd_burl(args);
    } else if (verb == "BURL" || verb == "EXPN" || verb == "ETRN") {
        error(502, "5.5.1", "Command not implemented", "not-implemented");
    } else {
        error(500, "5.5.1", "Unknown command", "unknown-command");
    }
    return true;
}

void submission_machine::cmd_rset() {
    if (relay_in_transaction()) {
        relay_out_.emplace_back("RSET");
        slots_.push_back({slot_kind::silent});
    }
    reset_transaction();
    bad_commands_ = 0;
    reply(250, "2.0.0", "Reset state");
}

void submission_machine::cmd_vrfy(std::string_view args) {
    if (args.empty()) return error(501, "5.5.4", "Syntax: VRFY address", "bad-syntax");
    if (settings_.relay_configured && settings_.relay.vrfy) {
        relay_out_.push_back(fmt::format("VRFY {}", args));
        slots_.push_back({slot_kind::forward});
        return;
    }
    reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

void submission_machine::cmd_ehlo(std::string_view args, bool esmtp) {
    std::string_view domain = args.substr(0, args.find(' '));
    if (domain.empty()) {
        return error(501, "5.5.4", esmtp ? "Syntax: EHLO domain" : "Syntax: HELO domain",
                     "bad-helo");
    }
    handoff_.helo = std::string(domain);
    // RFC 5321 section 4.1.4: EHLO ends any transaction.
    if (relay_in_transaction()) {
        relay_out_.emplace_back("RSET");
        slots_.push_back({slot_kind::silent});
    }
    reset_transaction();
    bad_commands_ = 0;
    if (!esmtp) return reply(250, "", settings_.capabilities.hostname);
    auto lines = smtp::ehlo_lines(settings_.capabilities);
    smtp::append_multiline(out_, 250, lines);
}

void submission_machine::reset_transaction() {
    tx_ = transaction{};
    tx_open_ = false;
    mail_held_ = false;
    mail_refused_.reset();
    smtputf8_ = false;
    binarymime_ = false;
    rcpts_pending_ = 0;
    oversize_ = false;
    spool_failed_ = false;
    bdat_used_ = false;
    bdat_failed_ = false;
    burl_.reset();
    spool_.clear();
}

// Replies from the relay for the pending group, in order (RFC 2920).
action submission_machine::on_relay_replies(std::vector<relay::reply> replies) {
    // The group is answered: replies from here on go straight out.
    std::vector<slot> slots;
    slots.swap(slots_);
    relay_out_.clear();
    std::size_t next = 0;
    for (auto& s : slots) {
        if (s.kind == slot_kind::local) {
            out_ += s.local;
            continue;
        }
        if (next >= replies.size()) break;  // the driver gives one per command
        const relay::reply& r = replies[next++];
        switch (s.kind) {
            case slot_kind::mail:
                // The client had its 250 for MAIL; a refusal answers the RCPTs.
                if (!r.completed()) mail_refused_ = r;
                break;
            case slot_kind::rcpt:
                --rcpts_pending_;
                if (mail_refused_) {
                    relay_reply(*mail_refused_);
                    break;
                }
                if (r.completed()) {
                    tx_.rcpt_lines.push_back(std::move(s.rcpt_line));
                    tx_.recipients.push_back(std::move(s.address));
                }
                relay_reply(r);
                break;
            case slot_kind::forward:
                relay_reply(r);
                break;
            case slot_kind::silent:
            case slot_kind::local:
                break;
        }
    }
    if (slots_.empty()) {
        // Keep the storage for the next group.
        slots.clear();
        slots_.swap(slots);
    }
    if (closed_) return action::close;
    return action::need_input;
}

action submission_machine::on_relay_failed(relay_failure failure) {
    std::vector<slot> slots = std::move(slots_);
    slots_.clear();
    relay_out_.clear();
    for (const auto& s : slots) {
        switch (s.kind) {
            case slot_kind::local:
                out_ += s.local;
                break;
            case slot_kind::silent:
            case slot_kind::mail:  // answered 250 when it was held
                break;
            default:
                if (failure == relay_failure::unreachable) {
                    reply(451, "4.4.1", "Failed to connect to relay server, try again later");
                } else if (failure == relay_failure::xclient_refused) {
                    reply(451, "4.7.0", "Relay server refused to take the client's identity");
                } else {
                    reply(451, "4.4.0", "Lost connection to relay server, try again later");
                }
        }
    }
    // The relay's side of the transaction is gone with its connection. With
    // no recipient accepted yet the client's goes on: MAIL goes again with
    // its next RCPT, on a new connection.
    if (tx_open_ && tx_.recipients.empty() && !bdat_used_) {
        rcpts_pending_ = 0;
        mail_held_ = true;
        mail_refused_.reset();
    } else {
        reset_transaction();
    }
    return closed_ ? action::close : action::need_input;
}

std::string submission_machine::format_relay_reply(const relay::reply& r) const {
    std::string out;
    // A relay that wants authentication is our misconfiguration, not the
    // client's fault (Dovecot's backend_relay_handle_relay_reply).
    if (r.code == 530) {
        core::log_error("relay-refused session={} reply={}", handoff_.session_id,
                        core::quoted(fmt::format("{} {}", r.code, r.text())));
        smtp::append_reply(out, 451, "4.3.5",
                           "Relay server refused the transaction, try again later");
        return out;
    }
    // An intermediate reply where a final one belongs (a 3xx to MAIL, RCPT
    // or the end of a message, or a code out of range) means the relay is
    // out of step with us: a temporary failure, never passed on as it came.
    if (!r.is_final()) {
        core::log_warn("relay-unexpected-reply session={} reply={}", handoff_.session_id,
                       core::quoted(fmt::format("{} {}", r.code, r.text())));
        smtp::append_reply(out, 451, "4.4.0",
                           "Unexpected reply from relay server, try again later");
        return out;
    }
    // The relay closing its connection does not close the client's session:
    // a 421 would tell the client it does.
    if (r.code == 421) {
        core::log_warn("relay-closing session={} reply={}", handoff_.session_id,
                       core::quoted(fmt::format("{} {}", r.code, r.text())));
        smtp::append_reply(out, 451, "4.4.0", "Relay server closing connection, try again later");
        return out;
    }
    std::string_view fallback = r.code < 300 ? "2.0.0" : r.code < 500 ? "4.0.0" : "5.0.0";
    std::string enhanced = r.enhanced.empty() ? std::string(fallback) : r.enhanced;
    std::vector<std::string> lines;
    if (r.lines.empty()) lines.emplace_back("");
    for (const auto& l : r.lines) {
        std::string_view text = l;
        if (!r.enhanced.empty() && text.starts_with(r.enhanced)) {
            text.remove_prefix(r.enhanced.size());
            if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        }
        lines.push_back(enhanced + " " + std::string(text));
    }
    smtp::append_multiline(out, r.code, lines);
    return out;
}

void submission_machine::emit(std::string reply) {
    if (group_pending()) {
        slots_.push_back({slot_kind::local, std::move(reply)});
    } else {
        out_ += reply;
    }
}

void submission_machine::reply(int code, std::string_view enhanced, std::string_view text) {
    if (group_pending()) {
        std::string r;
        smtp::append_reply(r, code, enhanced, text);
        slots_.push_back({slot_kind::local, std::move(r)});
        return;
    }
    smtp::append_reply(out_, code, enhanced, text);
}

void submission_machine::error(int code, std::string_view enhanced, std::string_view text,
                               std::string_view log_reason) {
    reply(code, enhanced, text);
    core::log_info("bad-command session={} reason={} reply=\"{} {}\"", handoff_.session_id,
                   log_reason, code, enhanced);
    if (++bad_commands_ >= settings_.max_bad_commands) {
        close(421, "4.7.0", "Too many bad commands, closing connection", "too-many-bad-commands");
    }
}

void submission_machine::close(int code, std::string_view enhanced, std::string_view text,
                               std::string_view reason) {
    reply(code, enhanced, settings_.capabilities.hostname + " " + std::string(text));
    close_reason_ = reason;
    closed_ = true;
}

void submission_machine::on_timeout() {
    if (closed_) return;
    // A line begun and not finished met the command deadline (slowloris);
    // a message body has the idle timeout per read.
    bool in_line = partial_ && !in_body();
    close(421, "4.4.2",
          in_line ? "Command timeout, closing connection" : "Idle timeout, closing connection",
          "timeout");
}

void submission_machine::on_shutdown() {
    if (!closed_) close(421, "4.3.2", "Server shutting down", "shutdown");
}

}  // namespace submitd::submission
