// The LOGIN mechanism (draft-murchison-sasl-login-00), server side: the
// server asks "Username:" then "Password:" and the client answers each. An
// initial response, when sent, is the user name. Fields follow the rules of
// check_identity() and check_password() (mech_plain.hpp); no authzid exists.
// It never checks a password and never puts client bytes in a reason.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sasl/mechanism.hpp"

namespace submitd::sasl {

class login_mechanism final : public mechanism {
public:
    std::string_view name() const override { return "LOGIN"; }
    step_result start(std::optional<std::string_view> initial) override;
    step_result step(std::string_view response) override;
    credentials take_credentials() override;

private:
    enum class state { initial, awaiting_username, awaiting_password, done, closed };

    step_result on_username(std::string_view username);
    step_result on_password(std::string_view password);
    step_result fail(std::string reason);

    state state_ = state::initial;
    credentials credentials_;
};

}  // namespace submitd::sasl
