// The boundary between the login stage and credential checking (DESIGN.md
// section 2.7): the login stage hands decoded SASL credentials to an
// authenticator and is told the outcome later, on some other thread. It never
// sees the password database. Implementations never block the caller.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "sasl/mechanism.hpp"

namespace submitd::auth {

struct auth_request {
    sasl::credentials credentials;
    std::string mechanism;  ///< "PLAIN", "LOGIN"
    std::string remote_ip;  ///< the client's address, for the failure penalty
};

enum class auth_status {
    ok,         ///< 235 2.7.0
    failed,     ///< 535 5.7.8, after `delay`
    temp_fail,  ///< 454 4.7.0: the passdb could not answer
};

struct auth_outcome {
    auth_status status = auth_status::failed;
    std::string user;                    ///< the authenticated login (with ok)
    std::chrono::milliseconds delay{0};  ///< wait this long before answering
    std::string reason;                  ///< for the log line; never a secret
};

class authenticator {
public:
    using completion = std::function<void(auth_outcome)>;
    virtual ~authenticator() = default;

    /// Checks the credentials off the caller's thread and calls `done` exactly
    /// once, on a worker thread; the caller posts the outcome to its own loop.
    virtual void authenticate(auth_request&& request, completion done) = 0;
};

}  // namespace submitd::auth
