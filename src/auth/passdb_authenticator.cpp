// The passwd-file authenticator; see passdb_authenticator.hpp.
#include "auth/passdb_authenticator.hpp"

#include "auth/password_scheme.hpp"
#include "core/log.hpp"

namespace submitd::auth {

namespace {

// Verified for unknown users so that they cost as much as known ones with
// the default scheme. Made by `doveadm pw -s SHA512-CRYPT` from a throwaway
// password; what it is does not matter, only that checking takes the time.
constexpr std::string_view dummy_hash =
    "{SHA512-CRYPT}$6$tZSvg8ME2tpdgR35$XzNRAkuH/J8TGUoLh3YleZYnBlrNjk1rphj5DEiT5tgyQSUzynTcQFADK1"
    "oFCrlNkYtd3JQRLbsfN8qzr3zgG0";

auth_outcome temp_fail(std::string reason) {
    auth_outcome out;
    out.status = auth_status::temp_fail;
    out.reason = std::move(reason);
    return out;
}

}  // namespace

passdb_authenticator::passdb_authenticator(std::shared_ptr<passwd_file_passdb> passdb,
                                           penalty_settings penalty, std::size_t hash_threads,
                                           std::size_t max_queued,
                                           penalty_tracker::now_function now)
    : passdb_(std::move(passdb)),
      penalty_(penalty, std::move(now)),
      pool_(hash_threads, max_queued) {}

void passdb_authenticator::authenticate(auth_request&& request, completion done) {
    if (auto quick = check_quickly(request)) {
        request.credentials.password.clear();
        done(std::move(*quick));
        return;
    }
    // std::function needs a copyable callable, and the request holds a
    // move-only secret: share it. The job is its only owner once queued, so
    // the password is wiped when the job is destroyed.
    auto shared = std::make_shared<auth_request>(std::move(request));
    auto job = [this, shared, done]() mutable {
        auth_outcome outcome = check(*shared);
        shared->credentials.password.clear();
        done(std::move(outcome));
    };
    if (!pool_.post(std::move(job))) {
        shared->credentials.password.clear();
        done(temp_fail("auth queue full"));
    }
}

void passdb_authenticator::set_passdb(std::shared_ptr<passwd_file_passdb> passdb) {
    std::lock_guard lock(mutex_);
    passdb_ = std::move(passdb);
}

void passdb_authenticator::set_penalty_settings(const penalty_settings& settings) {
    penalty_.set_settings(settings);
}

std::shared_ptr<passwd_file_passdb> passdb_authenticator::passdb() const {
    std::lock_guard lock(mutex_);
    return passdb_;
}

auth_outcome passdb_authenticator::failure(const auth_request& request, std::string reason) {
    const auto& c = request.credentials;
    penalty_.record_failure(request.remote_ip, c.authcid);
    auth_outcome out;
    out.status = auth_status::failed;
    out.delay = penalty_.delay(request.remote_ip, c.authcid);
    out.reason = std::move(reason);
    return out;
}

std::optional<auth_outcome> passdb_authenticator::check_quickly(const auth_request& request) {
    const auto& c = request.credentials;
    auto db = passdb();
    if (!db) return std::nullopt;
    // An unknown user costs a slow hash (see check()), a stale file a stat.
    auto found = db->lookup_if_fresh(c.authcid);
    if (!found || found->status != lookup_status::found) return std::nullopt;
    if (!is_fast_scheme(found->entry->password)) return std::nullopt;
    if (!c.authzid.empty() && c.authzid != c.authcid) {
        return failure(request, "authzid not permitted");
    }
    return verify(request, *db, *found->entry);
}

auth_outcome passdb_authenticator::check(const auth_request& request) {
    const auto& c = request.credentials;
    // We have no authorization rules: acting as another user is refused, but
    // naming oneself (as some clients do) is fine (RFC 4616 section 2).
    if (!c.authzid.empty() && c.authzid != c.authcid) {
        return failure(request, "authzid not permitted");
    }
    auto db = passdb();
    if (!db) return temp_fail("no passdb");
    auto found = db->lookup(c.authcid);
    switch (found.status) {
        case lookup_status::unavailable:
            return temp_fail("passdb unavailable");
        case lookup_status::not_found:
            // Against user enumeration by timing: spend what a real check costs.
            (void)verify_password(dummy_hash, c.password.view());
            return failure(request, "unknown user");
        case lookup_status::found:
            break;
    }
    return verify(request, *db, *found.entry);
}

auth_outcome passdb_authenticator::verify(const auth_request& request, const passwd_file_passdb& db,
                                          const passwd_entry& entry) {
    const auto& c = request.credentials;
    switch (verify_password(entry.password, c.password.view())) {
        case verify_status::match: {
            penalty_.record_success(request.remote_ip);
            auth_outcome out;
            out.status = auth_status::ok;
            out.user = c.authcid;
            return out;
        }
        case verify_status::mismatch:
            return failure(request, "password mismatch");
        case verify_status::error:
            break;
    }
    core::log_warn("passdb-bad-hash user={} path={}", core::quoted(c.authcid),
                   core::quoted(db.path()));
    return temp_fail("malformed password hash");
}

}  // namespace submitd::auth
