// DATA (RFC 5321 section 4.1.1.4): the message is read into the spool here,
// dot-unstuffed and with line ends normalized by smtp::data_decoder, and
// only a complete message goes to the relay. A message over the size limit
// or with a bare CR or LF the policy refuses is read to its end and then
// refused (552 5.3.4, 554 5.6.0): its lines never run as commands.
#include <fmt/format.h>

#include "core/log.hpp"
#include "submission/submission_machine.hpp"

namespace submitd::submission {

void submission_machine::cmd_data(std::string_view args) {
    if (!args.empty()) return error(501, "5.5.4", "Syntax: DATA", "bad-syntax");
    if (bdat_used_) return error(503, "5.5.1", "DATA not allowed after BDAT", "data-after-bdat");
    if (binarymime_) {
        // RFC 3030 section 3: a BINARYMIME body cannot be sent with DATA.
        return error(503, "5.5.1", "BODY=BINARYMIME needs BDAT", "data-with-binarymime");
    }
    if (!tx_open_) return error(503, "5.5.1", "MAIL first", "data-without-mail");
    if (tx_.recipients.empty()) {
        return error(554, "5.5.1", "No valid recipients", "data-without-rcpt");
    }
    bad_commands_ = 0;
    spool_.clear();
    oversize_ = false;
    spool_failed_ = false;
    data_.emplace(settings_.bare_lf, settings_.bare_cr);
    in_data_ = true;
    reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

bool submission_machine::body_clean() const {
    return in_data_ && data_ && !oversize_ && !spool_failed_ && !data_->rejected_bare_cr() &&
           !data_->rejected_bare_lf();
}

action submission_machine::finish_data() {
    auto refuse = [this](int code, std::string_view enhanced, std::string_view text,
                         std::string_view reason) {
        core::log_info("message-refused session={} tx={} reason={} size={}", handoff_.session_id,
                       tx_.id, reason, data_->message_size());
        reply(code, enhanced, text);
        // The relay still holds our MAIL and RCPTs: reset it quietly.
        relay_out_.emplace_back("RSET");
        slots_.push_back({slot_kind::silent});
        reset_transaction();
        data_.reset();
        return action::relay_commands;
    };
    if (spool_failed_) {
        return refuse(451, "4.3.0", "Local error storing the message, try again later",
                      "spool-failed");
    }
    if (oversize_) {
        return refuse(552, "5.3.4", "Message size exceeds fixed maximum message size", "too-big");
    }
    if (data_->rejected_bare_cr() || data_->rejected_bare_lf()) {
        return refuse(554, "5.6.0", "Message contains a bare CR or LF", "bare-cr-lf");
    }
    data_.reset();
    return action::relay_message;
}

action submission_machine::on_relay_final(const relay_outcome& outcome) {
    // A final reply that is neither 2xx, 4xx nor 5xx tells nothing of the
    // message: as if none had come.
    bool usable = outcome.reply && outcome.reply->is_final();
    if (outcome.reply && !usable) {
        core::log_warn(
            "relay-unexpected-reply session={} tx={} reply={}", handoff_.session_id, tx_.id,
            core::quoted(fmt::format("{} {}", outcome.reply->code, outcome.reply->text())));
    }
    if (usable) {
        relay_reply(*outcome.reply);
    } else if (outcome.end_sent) {
        // The relay may have taken the message: a retry may duplicate it.
        reply(451, "4.4.2", "Lost connection to relay server after the message was sent");
    } else if (outcome.failure == relay_failure::unreachable) {
        reply(451, "4.4.1", "Failed to connect to relay server, try again later");
    } else if (outcome.failure == relay_failure::xclient_refused) {
        reply(451, "4.7.0", "Relay server refused to take the client's identity");
    } else {
        reply(451, "4.4.0", "Lost connection to relay server, try again later");
    }
    reset_transaction();
    return closed_ ? action::close : action::need_input;
}

}  // namespace submitd::submission
