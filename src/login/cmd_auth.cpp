// AUTH (RFC 4954) on the server side of the SASL exchange:
//
//   auth-command = "AUTH" SP sasl-mech [SP initial-response] CRLF
//   initial-response = base64 / "="
//
// The mechanism only extracts credentials; checking them is the
// authenticator's job (DESIGN.md section 2.7). Replies: 334 challenges,
// 501 5.0.0 when the client cancels with "*", 501 5.5.2 for bad base64 or a
// malformed SASL message, 504 5.5.4 for a mechanism we do not offer, 538
// 5.7.11 for a plaintext mechanism without TLS, 503 5.5.1 before EHLO, then
// 235 2.7.0, 535 5.7.8 or 454 4.7.0 from the verdict. SASL data is wiped as
// soon as it is decoded and never logged.
#include <algorithm>

#include "core/base64.hpp"
#include "core/log.hpp"
#include "core/secret.hpp"
#include "login/login_machine.hpp"
#include "smtp/reply.hpp"

namespace submitd::login {

bool login_machine::auth_usable(std::string_view mechanism) const {
    if (std::find(settings_.mechanisms.begin(), settings_.mechanisms.end(), mechanism) ==
        settings_.mechanisms.end()) {
        return false;
    }
    return tls_active_ || settings_.allow_plaintext_auth ||
           !sasl::is_plaintext_mechanism(mechanism);
}

action login_machine::cmd_auth(std::string_view args) {
    if (state_ == state::fresh) return error(503, "5.5.1", "Send EHLO first", "auth-before-ehlo");
    std::string_view name = args.substr(0, args.find(' '));
    std::string_view initial =
        name.size() < args.size() ? args.substr(name.size() + 1) : std::string_view{};
    if (name.empty() || initial.find(' ') != std::string_view::npos) {
        reader_.reset();
        return error(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]", "bad-syntax");
    }
    std::string mech_name(name);
    std::transform(mech_name.begin(), mech_name.end(), mech_name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    bool offered = std::find(settings_.mechanisms.begin(), settings_.mechanisms.end(), mech_name) !=
                   settings_.mechanisms.end();
    mech_ = offered ? sasl::make_mechanism(mech_name) : nullptr;
    if (!mech_) {
        reader_.reset();
        return error(504, "5.5.4", "Unsupported authentication mechanism", "bad-mechanism");
    }
    if (!auth_usable(mech_name)) {
        mech_.reset();
        reader_.reset();
        return error(538, "5.7.11", "Encryption required for requested authentication mechanism",
                     "auth-needs-tls");
    }
    mechanism_ = mech_name;
    if (initial.empty()) {
        reader_.reset();
        return sasl_step(mech_->start(std::nullopt));
    }
    std::optional<std::string> decoded;
    if (initial == "=") {
        decoded.emplace();
    } else {
        decoded = core::base64_decode(initial);
    }
    reader_.reset();  // wipes the line with the initial response
    if (!decoded) {
        mech_.reset();
        return error(501, "5.5.2", "Invalid base64 data", "bad-base64");
    }
    core::secret_string data(std::move(*decoded));
    core::wipe(*decoded);  // what a short string left in the moved-from object
    return sasl_step(mech_->start(data.view()));
}

action login_machine::handle_sasl_line(std::string_view line) {
    if (line == "*") {
        reader_.reset();
        mech_.reset();
        state_ = state::greeted;
        core::log_info("auth-aborted session={} mechanism={}", facts_.session_id, mechanism_);
        return reply(501, "5.0.0", "Authentication aborted");
    }
    auto decoded = core::base64_decode(line);
    reader_.reset();
    if (!decoded) {
        mech_.reset();
        state_ = state::greeted;
        return error(501, "5.5.2", "Invalid base64 data", "bad-base64");
    }
    core::secret_string data(std::move(*decoded));
    core::wipe(*decoded);
    return sasl_step(mech_->step(data.view()));
}

action login_machine::sasl_step(const sasl::step_result& r) {
    switch (r.status) {
        case sasl::step_status::challenge:
            state_ = state::sasl;
            out_ += "334 ";
            out_ += core::base64_encode(r.challenge);
            out_ += "\r\n";
            return action::need_input;
        case sasl::step_status::done: {
            auth::auth_request req;
            req.credentials = mech_->take_credentials();
            req.mechanism = mechanism_;
            req.remote_ip = facts_.remote_ip;
            user_ = req.credentials.authcid;
            mech_.reset();
            auth_request_ = std::move(req);
            state_ = state::checking;
            return action::authenticate;
        }
        case sasl::step_status::bad_syntax:
            break;
    }
    mech_.reset();
    state_ = state::greeted;
    core::log_info("auth-failed session={} mechanism={} reason={}", facts_.session_id, mechanism_,
                   core::quoted(r.reason));
    return error(501, "5.5.2", "Invalid authentication data", "bad-sasl");
}

auth::auth_request login_machine::take_auth_request() {
    auth::auth_request req = std::move(*auth_request_);
    auth_request_.reset();
    return req;
}

action login_machine::on_auth_result(const auth::auth_outcome& outcome) {
    switch (outcome.status) {
        case auth::auth_status::ok:
            user_ = outcome.user;
            state_ = state::authenticated;
            if (core::log_enabled(core::log_level::info)) {
                core::log_info("login session={} user={} mechanism={}", facts_.session_id,
                               core::quoted(user_), mechanism_);
            }
            reply(235, "2.7.0", "Authentication successful");
            return action::handoff;
        case auth::auth_status::temp_fail:
            state_ = state::greeted;
            core::log_warn("auth-failed session={} user={} mechanism={} reason={}",
                           facts_.session_id, core::quoted(user_), mechanism_,
                           core::quoted(outcome.reason));
            user_.clear();
            return reply(454, "4.7.0", "Temporary authentication failure");
        case auth::auth_status::failed:
            break;
    }
    state_ = state::greeted;
    core::log_info("auth-failed session={} user={} mechanism={} reason={}", facts_.session_id,
                   core::quoted(user_), mechanism_, core::quoted(outcome.reason));
    user_.clear();
    reply(535, "5.7.8", "Authentication credentials invalid");
    if (++failures_ >= settings_.max_failures) {
        return close(421, "4.7.0", "Too many authentication failures", "auth-failures");
    }
    return action::need_input;
}

}  // namespace submitd::login
