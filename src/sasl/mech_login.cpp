// LOGIN (draft-murchison-sasl-login-00, section 2): the server sends
// "Username:", the client answers with the user name, the server sends
// "Password:", the client answers with the password. The prompts are fixed
// text that clients ignore. An initial response (RFC 4954 section 4) is taken
// as the user name. There is no authzid. Fields follow check_identity() and
// check_password(). Errors: bad_syntax with a reason that never quotes the
// password; a response after done or after an error is bad_syntax too.
#include "sasl/mech_login.hpp"

#include <cassert>
#include <utility>

#include "sasl/mech_plain.hpp"

namespace submitd::sasl {
namespace {

constexpr std::string_view username_prompt = "Username:";
constexpr std::string_view password_prompt = "Password:";

}  // namespace

step_result login_mechanism::start(std::optional<std::string_view> initial) {
    if (state_ != state::initial) return fail("LOGIN started twice");
    if (initial) return on_username(*initial);
    state_ = state::awaiting_username;
    return {step_status::challenge, std::string(username_prompt), {}};
}

step_result login_mechanism::step(std::string_view response) {
    switch (state_) {
        case state::awaiting_username:
            return on_username(response);
        case state::awaiting_password:
            return on_password(response);
        case state::initial:
        case state::done:
        case state::closed:
            break;
    }
    return fail("unexpected LOGIN response");
}

credentials login_mechanism::take_credentials() {
    assert(state_ == state::done);
    state_ = state::closed;
    return std::move(credentials_);
}

step_result login_mechanism::on_username(std::string_view username) {
    if (auto reason = check_identity("user name", username)) return fail(std::move(*reason));
    credentials_.authcid = std::string(username);
    state_ = state::awaiting_password;
    return {step_status::challenge, std::string(password_prompt), {}};
}

step_result login_mechanism::on_password(std::string_view password) {
    if (auto reason = check_password(password)) return fail(std::move(*reason));
    // Straight from the caller's buffer into the secret: no temporary copy.
    credentials_.password = core::secret_string(password);
    state_ = state::done;
    return {step_status::done, {}, {}};
}

step_result login_mechanism::fail(std::string reason) {
    state_ = state::closed;
    credentials_.password.clear();
    return {step_status::bad_syntax, {}, std::move(reason)};
}

}  // namespace submitd::sasl
