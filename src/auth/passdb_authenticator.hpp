// The authenticator over a passwd-file passdb: authenticate() queues the
// check on a small pool of hashing threads and returns at once; the job looks
// the user up, verifies the password and calls the completion on that thread.
// A known user whose stored password takes one plain digest to check
// (is_fast_scheme: PLAIN, SSHA512...) is checked at once on the caller's
// thread instead, when the file needs no stat (lookup_if_fresh): the trip to
// a hashing thread and back would cost more than the check.
//
// Outcomes: ok (user = authcid); failed with reason "authzid not permitted",
// "unknown user" or "password mismatch", each with the penalty delay; and
// temp_fail when the passdb is unavailable, the stored hash is malformed, or
// the queue is full. An unknown user still costs one password hash, so the
// timing does not tell which users exist. It logs a warn line for a malformed
// hash (user name only) and nothing else; the login stage logs the outcome.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>

#include "auth/authenticator.hpp"
#include "auth/passwd_file_passdb.hpp"
#include "auth/penalty.hpp"
#include "auth/worker_pool.hpp"

namespace submitd::auth {

class passdb_authenticator final : public authenticator {
public:
    /// @param passdb may be null (every request is then temp_fail).
    /// @param hash_threads threads verifying passwords (at least one).
    /// @param max_queued requests waiting for a thread before new ones are
    /// refused with temp_fail.
    /// @param now the penalty clock, for tests; steady_clock::now when empty.
    passdb_authenticator(std::shared_ptr<passwd_file_passdb> passdb, penalty_settings penalty,
                         std::size_t hash_threads, std::size_t max_queued = 256,
                         penalty_tracker::now_function now = {});
    /// Finishes the queued requests (each completion is called), then stops.
    ~passdb_authenticator() override = default;

    /// Calls `done` exactly once: on a hashing thread, or, when the queue is
    /// full, with temp_fail before returning.
    void authenticate(auth_request&& request, completion done) override;

    /// Replaces the passdb (on SIGHUP); requests already running keep the old one.
    void set_passdb(std::shared_ptr<passwd_file_passdb> passdb);
    void set_penalty_settings(const penalty_settings& settings);

private:
    auth_outcome check(const auth_request& request);
    /// The outcome when it can be had without a slow hash or a file check.
    std::optional<auth_outcome> check_quickly(const auth_request& request);
    /// Verifies the password of a user that was found.
    auth_outcome verify(const auth_request& request, const passwd_file_passdb& db,
                        const passwd_entry& entry);
    auth_outcome failure(const auth_request& request, std::string reason);
    std::shared_ptr<passwd_file_passdb> passdb() const;

    mutable std::mutex mutex_;  // guards passdb_
    std::shared_ptr<passwd_file_passdb> passdb_;
    penalty_tracker penalty_;
    worker_pool pool_;  // last: destroyed (and joined) before what its jobs use
};

}  // namespace submitd::auth
