// BURL (RFC 4468 with its errata):
//
//   burl-cmd = "BURL" SP absolute-URI [SP end-marker] CRLF
//   end-marker = "LAST"
//
// A part of the message named by an IMAP URL (RFC 5092), fetched from an IMAP
// server and appended to the spool like a BDAT chunk; BURL and BDAT mix in
// one message. Everything about the URL is checked here before the driver
// connects anywhere: its form (501 5.5.4), its host and port against the
// configured servers (554 5.7.14: no connection to anything else), and whose
// it is: a URLAUTH URL must be for "submit+<login>" (554 5.7.0: IMAP servers
// do not check the name after "submit+"), a URL without one must be the
// login's own mailbox on a trusted server. The fetch's outcome becomes 250
// (or the relay's reply with LAST), 554 5.6.6 (the server will not resolve
// the URL), 552 5.3.4 (too big) or 451 4.4.1 (the server unreachable or
// failing: the client should retry, never bounce).
#include <fmt/format.h>

#include <algorithm>

#include "core/ascii.hpp"
#include "core/log.hpp"
#include "imap/client.hpp"
#include "submission/submission_machine.hpp"

namespace submitd::submission {

namespace {

using core::iequals;

}  // namespace

void submission_machine::cmd_burl(std::string_view args) {
    std::string_view url = args.substr(0, args.find(' '));
    std::string_view rest = url.size() < args.size() ? args.substr(url.size() + 1) : "";
    if (url.empty() || (!rest.empty() && !iequals(rest, "LAST"))) {
        return error(501, "5.5.4", "Syntax: BURL imap-url [LAST]", "bad-burl");
    }
    if (auto refusal = chunk_refusal()) {
        return error(refusal->code, refusal->enhanced, refusal->text, "bad-burl");
    }
    burl_request req;
    if (!check_burl_url(url, req)) return;
    req.max_size = settings_.max_message_size - std::min(settings_.max_message_size, spool_.size());
    begin_chunk();
    burl_last_ = !rest.empty();
    burl_ = std::make_unique<burl_request>(std::move(req));
}

bool submission_machine::check_burl_url(std::string_view text, burl_request& req) {
    auto url = imap::parse_imap_url(text);
    if (!url) {
        error(501, "5.5.4", "Invalid IMAP URL", "bad-burl-url");
        return false;
    }
    const auto& servers = settings_.burl_servers;
    auto it = std::find_if(servers.begin(), servers.end(), [&](const burl_server& s) {
        return s.host == url->host && s.port == url->port;
    });
    if (it == servers.end()) {
        // RFC 4468 section 6 (errata 1163): no trust relationship.
        core::log_info("burl-refused session={} reason=unknown-server url-host={} url-port={}",
                       handoff_.session_id, core::quoted(url->host), url->port);
        reply(554, "5.7.14", "No trust relationship with that IMAP server");
        return false;
    }
    const std::string& login = handoff_.user;
    bool own = url->user.empty() || url->user == login;
    if (url->has_urlauth) {
        std::string_view access = url->access;
        bool for_login = access.size() > 7 && iequals(access.substr(0, 7), "submit+") &&
                         access.substr(7) == login;
        if (!for_login) {
            core::log_info("burl-refused session={} reason=urlauth-not-for-user access={}",
                           handoff_.session_id, core::quoted(url->access));
            reply(554, "5.7.0", "URL is not authorized for this submission user");
            return false;
        }
    } else if (!own) {
        core::log_info("burl-refused session={} reason=not-own-mailbox url-user={}",
                       handoff_.session_id, core::quoted(url->user));
        reply(554, "5.7.0", "URL without URLAUTH must name your own mailbox");
        return false;
    }
    // URLAUTH URLs through URLFETCH where the server takes them; the login's
    // own messages (with or without URLAUTH) through a trusted login.
    if (url->has_urlauth && it->urlauth) {
        req.urlauth = true;
    } else if (it->trusted && own) {
        req.urlauth = false;
    } else {
        core::log_info("burl-refused session={} reason=no-mode server={}:{} urlauth={}",
                       handoff_.session_id, it->host, it->port, url->has_urlauth);
        reply(554, "5.7.14",
              url->has_urlauth ? "IMAP server not configured for URLAUTH"
                               : "No trust relationship with that IMAP server");
        return false;
    }
    if (!req.urlauth) {
        auto mailbox = imap::imap_mailbox(url->mailbox);
        if (!mailbox || !imap::is_sendable_section(url->section)) {
            error(501, "5.5.4", "Invalid IMAP URL", "bad-burl-url");
            return false;
        }
        req.mailbox = std::move(*mailbox);
    }
    req.server = static_cast<std::size_t>(it - servers.begin());
    req.url = std::move(*url);
    return true;
}

action submission_machine::on_burl_fetched(burl_result result) {
    burl_request req = std::move(*burl_);
    burl_.reset();
    bdat_last_ = burl_last_;
    bdat_size_ = result.octets.size();
    auto fail = [&](int code, std::string_view enhanced, std::string_view text,
                    std::string_view reason) {
        core::log_info("burl-failed session={} tx={} reason={} host={}", handoff_.session_id,
                       tx_.id, reason, core::quoted(req.url.host));
        reply(code, enhanced, text);
        bdat_failed_ = true;  // the message lacks a part: later chunks get 503 until RSET
        spool_.clear();
        return closed_ ? action::close : action::need_input;
    };
    switch (result.status) {
        case burl_status::nil:
            return fail(554, "5.6.6", "IMAP URL resolution failed", "url-not-resolved");
        case burl_status::unavailable:
            return fail(451, "4.4.1", "IMAP server unavailable, try again later", "imap-failed");
        case burl_status::too_big:
            oversize_ = true;
            return finish_part();
        case burl_status::ok:
            break;
    }
    if (spool_.size() + result.octets.size() > settings_.max_message_size) {
        oversize_ = true;
    } else if (auto e = spool_.append(result.octets)) {
        core::log_error("spool-failed session={} reason={}", handoff_.session_id,
                        core::quoted(e.message()));
        oversize_ = true;
        spool_failed_ = true;
    }
    core::log_debug("burl-fetched session={} tx={} size={} last={}", handoff_.session_id, tx_.id,
                    result.octets.size(), burl_last_);
    return finish_part();
}

}  // namespace submitd::submission
