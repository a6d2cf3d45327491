// The PLAIN mechanism (RFC 4616), server side, and the field rules that PLAIN
// and LOGIN share: identities are non-empty, at most max_identity_length
// bytes, well-formed UTF-8 without control characters; passwords are
// non-empty, at most max_password_length bytes, any byte but NUL.
// It never checks a password and never puts client bytes in a reason.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sasl/mechanism.hpp"

namespace submitd::sasl {

/// Checks an authorization or authentication identity.
/// @param field the field's name for the reason ("authcid").
/// @param value the identity; empty is refused.
/// @return nullopt when `value` is acceptable, else a short reason naming
/// `field` (never containing `value`).
std::optional<std::string> check_identity(std::string_view field, std::string_view value);

/// Checks a password.
/// @return nullopt when `value` is acceptable, else a short reason that never
/// contains any byte of `value`.
std::optional<std::string> check_password(std::string_view value);

class plain_mechanism final : public mechanism {
public:
    std::string_view name() const override { return "PLAIN"; }
    step_result start(std::optional<std::string_view> initial) override;
    step_result step(std::string_view response) override;
    credentials take_credentials() override;

private:
    enum class state { initial, awaiting_response, done, closed };

    step_result parse(std::string_view message);
    step_result fail(std::string reason);

    state state_ = state::initial;
    credentials credentials_;
};

}  // namespace submitd::sasl
