// BDAT (RFC 3030 section 2):
//
//   bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF
//   chunk-size = 1*DIGIT
//   end-marker = "LAST"
//
// Exactly chunk-size octets follow the line, whatever they contain, and are
// appended to the spool as they are (no dot-stuffing, no line-end policy:
// the relay gets them as BDAT, or through the dot-stuffer, which also makes
// bare CR and LF into CRLF, when it has no CHUNKING). A chunk without LAST is
// answered here; BDAT ... LAST with the relay's reply for the whole message.
//
// A chunk that cannot be taken (no transaction, an earlier chunk refused,
// extra arguments) is still read to its end and then refused, so its bytes
// never run as commands. A size that cannot be parsed leaves the chunk's
// length unknown: the connection is closed after the 501.
#include <fmt/format.h>

#include <algorithm>

#include "core/ascii.hpp"
#include "core/log.hpp"
#include "smtp/params.hpp"
#include "submission/submission_machine.hpp"

namespace submitd::submission {

namespace {

using core::iequals;

}  // namespace

void submission_machine::cmd_bdat(std::string_view args) {
    std::string_view size_text = args.substr(0, args.find(' '));
    std::string_view rest =
        size_text.size() < args.size() ? args.substr(size_text.size() + 1) : std::string_view{};
    auto size = smtp::parse_bdat_size(size_text);
    if (!size) {
        // The chunk's length is unknown: what follows cannot be told from commands.
        reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
        core::log_info("bad-command session={} reason=bad-bdat-size reply=\"501 5.5.4\"",
                       handoff_.session_id);
        close(421, "4.7.0", "Cannot find the end of the chunk, closing connection", "bad-bdat");
        return;
    }
    bdat_size_ = *size;
    bdat_left_ = *size;
    bdat_last_ = iequals(rest, "LAST");
    bdat_error_.reset();
    in_bdat_ = true;
    if (!rest.empty() && !bdat_last_) {
        bdat_error_ = smtp_error{501, "5.5.4", "Syntax: BDAT size [LAST]"};
    } else {
        bdat_error_ = chunk_refusal();
    }
    if (!bdat_error_) begin_chunk();
}

std::optional<smtp_error> submission_machine::chunk_refusal() const {
    if (!tx_open_) return smtp_error{503, "5.5.1", "MAIL first"};
    if (tx_.recipients.empty()) return smtp_error{503, "5.5.1", "No valid recipients"};
    if (bdat_failed_) return smtp_error{503, "5.5.1", "An earlier chunk was refused: RSET first"};
    return std::nullopt;
}

void submission_machine::begin_chunk() {
    if (!bdat_used_) {
        spool_.clear();
        oversize_ = false;
        spool_failed_ = false;
    }
    bdat_used_ = true;
    bad_commands_ = 0;
}

action submission_machine::take_chunk(std::string_view in, std::size_t& consumed) {
    std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(bdat_left_, in.size() - consumed));
    std::string_view bytes = in.substr(consumed, take);
    consumed += take;
    bdat_left_ -= take;
    if (!bdat_error_ && !oversize_ && !bytes.empty()) {
        if (spool_.size() + bytes.size() > settings_.max_message_size) {
            oversize_ = true;  // read on to the chunk's end, keep nothing more
        } else if (auto e = spool_.append(bytes)) {
            core::log_error("spool-failed session={} reason={}", handoff_.session_id,
                            core::quoted(e.message()));
            oversize_ = true;
            spool_failed_ = true;
        }
    }
    if (bdat_left_ > 0) return action::need_input;
    in_bdat_ = false;
    return finish_chunk();
}

action submission_machine::finish_chunk() {
    if (bdat_error_) {
        smtp_error e = std::move(*bdat_error_);
        bdat_error_.reset();
        error(e.code, e.enhanced, e.text, "bad-bdat");
        return closed_ ? action::close : action::need_input;
    }
    return finish_part();
}

action submission_machine::finish_part() {
    if (spool_failed_ || oversize_) {
        // RFC 3030 section 2: later chunks of this transaction are refused
        // until RSET; the relay keeps our MAIL and RCPTs until then.
        bdat_failed_ = true;
        core::log_info("message-refused session={} tx={} reason={} size={}", handoff_.session_id,
                       tx_.id, spool_failed_ ? "spool-failed" : "too-big", spool_.size());
        if (spool_failed_) {
            reply(451, "4.3.0", "Local error storing the message, try again later");
        } else {
            reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
        }
        spool_.clear();
        return action::need_input;
    }
    if (!bdat_last_) {
        reply(250, "2.0.0", fmt::format("{} octets received", bdat_size_));
        return action::need_input;
    }
    return action::relay_message;
}

}  // namespace submitd::submission
