// The server side of a SASL mechanism (RFC 4422) as a state machine over
// decoded bytes: the session decodes base64, handles "*" (abort) and "="
// (empty initial response), and feeds the bytes here. A mechanism never does
// I/O and never checks a password: it only extracts credentials, which the
// session hands to an auth::authenticator.
//
// Errors: step_status::bad_syntax with a short reason (no secret in it) for a
// message that breaks the mechanism's grammar or the field limits.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/secret.hpp"

namespace submitd::sasl {

/// Longest authorization or authentication identity accepted, in bytes.
inline constexpr std::size_t max_identity_length = 255;
/// Longest password accepted, in bytes.
inline constexpr std::size_t max_password_length = 1024;

struct credentials {
    std::string authzid;  ///< authorization identity; empty when not given
    std::string authcid;  ///< authentication identity (the login name)
    core::secret_string password;
};

enum class step_status {
    challenge,   ///< send `challenge` (raw bytes; the session base64-encodes it) and wait
    done,        ///< credentials complete: call take_credentials()
    bad_syntax,  ///< the client's message is malformed: answer 501 5.5.2
};

struct step_result {
    step_status status = step_status::bad_syntax;
    std::string challenge;  ///< raw bytes, valid with step_status::challenge
    std::string reason;     ///< short text for logs, valid with bad_syntax
};

class mechanism {
public:
    virtual ~mechanism() = default;

    /// @return the upper-case mechanism name ("PLAIN").
    virtual std::string_view name() const = 0;

    /// First step. @param initial the decoded initial response, when the
    /// client sent one (an empty string for "=").
    virtual step_result start(std::optional<std::string_view> initial) = 0;

    /// A later step with the client's decoded response to the last challenge.
    virtual step_result step(std::string_view response) = 0;

    /// @pre the last step returned step_status::done. Moves the credentials out.
    virtual credentials take_credentials() = 0;
};

using mechanism_ptr = std::unique_ptr<mechanism>;

/// @return a new instance of the named mechanism (case-insensitive), or
/// nullptr when it is not one we implement ("PLAIN", "LOGIN").
mechanism_ptr make_mechanism(std::string_view name);

/// @return true when the mechanism sends the password in clear, so it may be
/// offered only over TLS unless plaintext authentication is allowed.
bool is_plaintext_mechanism(std::string_view name);

}  // namespace submitd::sasl
