// MAIL and RCPT (RFC 5321 sections 4.1.1.2 and 4.1.1.3, RFC 6409 section 4):
//
//   mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
//   rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
//          Forward-path ) [SP Rcpt-parameters] CRLF
//
// Checked here (syntax, sequence, size, recipient count, parameters the
// relay can carry), then forwarded to the relay, whose reply the client gets.
// MAIL is answered here and held until the first RCPT, which carries it to
// the relay in the same write (one relay round trip fewer per message): a
// relay that refuses the sender refuses each RCPT with its MAIL reply, as
// Postfix's smtpd_delay_reject does, and a relay that cannot be reached
// fails the RCPT with 451.
// The client's AUTH= is never forwarded: when the relay offers AUTH, MAIL
// carries AUTH=<the logged-in user> instead, so a client cannot claim to be
// someone else (RFC 4954 section 5).
#include <fmt/format.h>

#include "smtp/params.hpp"
#include "submission/submission_machine.hpp"

namespace submitd::submission {

void submission_machine::cmd_mail(std::string_view args) {
    if (tx_open_) return error(503, "5.5.1", "Nested MAIL command", "nested-mail");
    if (!settings_.relay_configured) {
        return reply(451, "4.3.0", "No relay server configured, try again later");
    }
    smtp::path_options options = settings_.path;
    options.allow_utf8 = settings_.capabilities.smtputf8;
    auto parsed = smtp::parse_mail(args, options);
    if (auto* e = std::get_if<smtp::syntax_error>(&parsed)) {
        return error(e->code, e->enhanced, e->text, "bad-mail");
    }
    auto& mail = std::get<smtp::mail_command>(parsed);
    const auto& p = mail.params;
    const auto& caps = settings_.capabilities;
    if (p.body == smtp::body_type::eight_bit_mime && !caps.eightbitmime) {
        return error(555, "5.5.4", "BODY=8BITMIME not supported", "bad-param");
    }
    if (p.body == smtp::body_type::binary_mime && !caps.binarymime) {
        return error(555, "5.5.4", "BODY=BINARYMIME not supported", "bad-param");
    }
    if (p.smtputf8 && !caps.smtputf8) {
        return error(555, "5.5.4", "SMTPUTF8 not supported", "bad-param");
    }
    if ((p.ret != smtp::ret_type::unspecified || !p.envid.empty()) && !caps.dsn) {
        return error(555, "5.5.4", "DSN parameters not supported", "bad-param");
    }
    if (p.size && *p.size > settings_.max_message_size) {
        return error(552, "5.3.4", "Message size exceeds fixed maximum message size", "too-big");
    }
    // What the relay has no extension for is checked here and not sent on.
    if (!settings_.relay.size) mail.params.size.reset();
    if (!settings_.relay.eightbitmime && p.body == smtp::body_type::seven_bit) {
        mail.params.body = smtp::body_type::unspecified;
    }
    std::optional<std::string> auth;
    if (!settings_.relay.auth_mechanisms.empty()) auth = smtp::xtext_encode(handoff_.user);
    reset_transaction();
    tx_.id = fmt::format("{}.{}", handoff_.session_id, ++tx_counter_);
    tx_.reverse_path = mail.reverse_path;
    tx_.mail_line = smtp::format_mail(mail, auth);
    smtputf8_ = p.smtputf8;
    binarymime_ = p.body == smtp::body_type::binary_mime;
    tx_open_ = true;
    mail_held_ = true;
    bad_commands_ = 0;
    reply(250, "2.1.0", "Ok");
}

void submission_machine::cmd_rcpt(std::string_view args) {
    if (!tx_open_) return error(503, "5.5.1", "MAIL first", "rcpt-without-mail");
    smtp::path_options options = settings_.path;
    options.allow_utf8 = smtputf8_;
    auto parsed = smtp::parse_rcpt(args, options);
    if (auto* e = std::get_if<smtp::syntax_error>(&parsed)) {
        return error(e->code, e->enhanced, e->text, "bad-rcpt");
    }
    auto& rcpt = std::get<smtp::rcpt_command>(parsed);
    if ((rcpt.params.notify != 0 || !rcpt.params.orcpt.empty()) && !settings_.capabilities.dsn) {
        return error(555, "5.5.4", "DSN parameters not supported", "bad-param");
    }
    if (tx_.recipients.size() + rcpts_pending_ >= settings_.max_recipients) {
        // RFC 5321 section 4.5.3.1.10: the client sends the rest later.
        return reply(452, "4.5.3", "Too many recipients");
    }
    bad_commands_ = 0;
    if (mail_refused_) return emit(format_relay_reply(*mail_refused_));
    if (mail_held_) {
        relay_out_.push_back(tx_.mail_line);
        slots_.push_back({slot_kind::mail});
        mail_held_ = false;
    }
    ++rcpts_pending_;
    std::string line = smtp::format_rcpt(rcpt);
    relay_out_.push_back(line);
    slots_.push_back({slot_kind::rcpt, {}, std::move(line), std::move(rcpt.forward_path)});
}

}  // namespace submitd::submission
