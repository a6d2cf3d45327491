// The passwd-file authenticator through its asynchronous API: each test
// waits on a future the completion fulfils.
#include "auth/passdb_authenticator.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace submitd::auth {
namespace {

using namespace std::chrono_literals;

constexpr const char* sample = SUBMITD_TEST_DATA "/auth/users.passwd";
constexpr std::string_view password = "s3cret p\xc3\xa4ssw\xc3\xb6rd";  // alice's, bob's, dave's

struct result {
    auth_outcome outcome;
    std::thread::id thread;
};

result run(authenticator& auth, std::string authzid, std::string authcid, std::string_view pw,
           std::string ip = "192.0.2.1") {
    std::promise<result> promise;
    auto future = promise.get_future();
    auth_request request{
        {std::move(authzid), std::move(authcid), core::secret_string(pw)}, "PLAIN", std::move(ip)};
    auth.authenticate(std::move(request), [&promise](auth_outcome outcome) {
        promise.set_value({std::move(outcome), std::this_thread::get_id()});
    });
    return future.get();
}

const penalty_settings test_penalty{100ms, 1000ms, 60s, 1000};

std::shared_ptr<passwd_file_passdb> sample_passdb() {
    return std::make_shared<passwd_file_passdb>(sample);
}

TEST(passdb_authenticator, ok) {
    passdb_authenticator auth(sample_passdb(), test_penalty, 2);
    for (const char* user : {"alice@example.org", "bob@example.org", "dave"}) {
        auto r = run(auth, "", user, password);
        EXPECT_EQ(r.outcome.status, auth_status::ok) << user << " " << r.outcome.reason;
        EXPECT_EQ(r.outcome.user, user);
        EXPECT_EQ(r.outcome.delay, 0ms);
    }
    EXPECT_EQ(run(auth, "", "carol", "carol pw").outcome.status, auth_status::ok);
}

TEST(passdb_authenticator, slow_hashes_on_the_pool_fast_ones_at_once) {
    // A queue of 0: anything sent to the pool is refused, which shows where
    // each check ran as well as the thread does.
    passdb_authenticator auth(sample_passdb(), test_penalty, 1, 0);
    // dave's {SSHA512}: one digest, checked on the calling thread.
    auto r = run(auth, "", "dave", password);
    EXPECT_EQ(r.outcome.status, auth_status::ok) << r.outcome.reason;
    EXPECT_EQ(r.thread, std::this_thread::get_id());
    r = run(auth, "", "dave", "wrong");
    EXPECT_EQ(r.outcome.status, auth_status::failed);
    EXPECT_EQ(r.outcome.reason, "password mismatch");
    EXPECT_EQ(r.outcome.delay, 100ms);
    r = run(auth, "someone", "dave", password);
    EXPECT_EQ(r.outcome.status, auth_status::failed);
    EXPECT_EQ(r.outcome.reason, "authzid not permitted");
    // crypt(3) schemes and unknown users (a dummy slow hash) go to the pool.
    for (const char* user : {"alice@example.org", "bob@example.org", "nobody"}) {
        EXPECT_EQ(run(auth, "", user, password).outcome.reason, "auth queue full") << user;
    }
}

TEST(passdb_authenticator, fast_scheme_goes_to_the_pool_when_the_file_is_due_a_check) {
    // check_interval 0: every lookup stats the file, which the event loop must not.
    auto db = std::make_shared<passwd_file_passdb>(sample, 0ms);
    passdb_authenticator auth(db, test_penalty, 1);
    auto r = run(auth, "", "dave", password);
    EXPECT_EQ(r.outcome.status, auth_status::ok);
    EXPECT_NE(r.thread, std::this_thread::get_id());
}

TEST(passdb_authenticator, authzid_same_as_authcid_is_fine) {
    passdb_authenticator auth(sample_passdb(), test_penalty, 1);
    auto r = run(auth, "carol", "carol", "carol pw");
    EXPECT_EQ(r.outcome.status, auth_status::ok);
    EXPECT_EQ(r.outcome.user, "carol");
}

TEST(passdb_authenticator, other_authzid_is_refused) {
    passdb_authenticator auth(sample_passdb(), test_penalty, 1);
    auto r = run(auth, "alice@example.org", "carol", "carol pw");
    EXPECT_EQ(r.outcome.status, auth_status::failed);
    EXPECT_EQ(r.outcome.reason, "authzid not permitted");
    EXPECT_EQ(r.outcome.user, "");
    EXPECT_EQ(r.outcome.delay, 100ms);
}

TEST(passdb_authenticator, wrong_password_with_growing_delay) {
    passdb_authenticator auth(sample_passdb(), test_penalty, 1);
    auto first = run(auth, "", "carol", "wrong");
    EXPECT_EQ(first.outcome.status, auth_status::failed);
    EXPECT_EQ(first.outcome.reason, "password mismatch");
    EXPECT_EQ(first.outcome.user, "");
    EXPECT_EQ(first.outcome.delay, 100ms);
    EXPECT_EQ(run(auth, "", "carol", "wrong").outcome.delay, 200ms);
    EXPECT_EQ(run(auth, "", "carol", "Carol pw").outcome.delay, 400ms);
    EXPECT_EQ(run(auth, "", "carol", "carol pw").outcome.status, auth_status::ok);
    // The address was reset by the success; carol's own count stays.
    EXPECT_EQ(run(auth, "", "dave", "wrong").outcome.delay, 100ms);
    EXPECT_EQ(run(auth, "", "carol", "wrong", "198.51.100.7").outcome.delay, 800ms);
}

TEST(passdb_authenticator, unknown_user) {
    passdb_authenticator auth(sample_passdb(), test_penalty, 1);
    auto r = run(auth, "", "mallory", password);
    EXPECT_EQ(r.outcome.status, auth_status::failed);
    EXPECT_EQ(r.outcome.reason, "unknown user");
    EXPECT_EQ(r.outcome.delay, 100ms);
    EXPECT_EQ(run(auth, "", "", "").outcome.reason, "unknown user");
    // Names are exact.
    EXPECT_EQ(run(auth, "", "Alice@example.org", password).outcome.reason, "unknown user");
}

TEST(passdb_authenticator, missing_file_is_temp_fail) {
    testing::internal::CaptureStderr();
    auto passdb = std::make_shared<passwd_file_passdb>(SUBMITD_TEST_DATA "/auth/missing.passwd");
    testing::internal::GetCapturedStderr();
    passdb_authenticator auth(passdb, test_penalty, 1);
    auto r = run(auth, "", "alice@example.org", password);
    EXPECT_EQ(r.outcome.status, auth_status::temp_fail);
    EXPECT_EQ(r.outcome.reason, "passdb unavailable");
    EXPECT_EQ(r.outcome.delay, 0ms);

    auth.set_passdb(sample_passdb());
    EXPECT_EQ(run(auth, "", "alice@example.org", password).outcome.status, auth_status::ok);
    auth.set_passdb(nullptr);
    EXPECT_EQ(run(auth, "", "alice@example.org", password).outcome.status, auth_status::temp_fail);
}

TEST(passdb_authenticator, malformed_hash_is_temp_fail_and_logged) {
    std::string dir = testing::TempDir();
    std::string path = dir + "submitd-auth-malformed.passwd";
    {
        FILE* f = std::fopen(path.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fputs("eve:{SHA512-CRYPT}$5$not-sha512\n", f);
        std::fclose(f);
    }
    passdb_authenticator auth(std::make_shared<passwd_file_passdb>(path), test_penalty, 1);
    testing::internal::CaptureStderr();
    auto r = run(auth, "", "eve", "x");
    std::string log = testing::internal::GetCapturedStderr();
    std::remove(path.c_str());
    EXPECT_EQ(r.outcome.status, auth_status::temp_fail);
    EXPECT_EQ(r.outcome.reason, "malformed password hash");
    EXPECT_NE(log.find("warn passdb-bad-hash user=eve"), std::string::npos) << log;
    EXPECT_EQ(log.find("not-sha512"), std::string::npos) << log;
}

TEST(passdb_authenticator, full_queue_is_temp_fail) {
    passdb_authenticator auth(sample_passdb(), test_penalty, 1, 0);
    auto r = run(auth, "", "carol", "carol pw");
    EXPECT_EQ(r.outcome.status, auth_status::temp_fail);
    EXPECT_EQ(r.outcome.reason, "auth queue full");
}

TEST(passdb_authenticator, penalty_settings_can_change) {
    passdb_authenticator auth(sample_passdb(), test_penalty, 1);
    auth.set_penalty_settings({10ms, 15ms, 60s, 1000});
    EXPECT_EQ(run(auth, "", "carol", "wrong").outcome.delay, 10ms);
    EXPECT_EQ(run(auth, "", "carol", "wrong").outcome.delay, 15ms);
}

TEST(passdb_authenticator, every_request_completes_before_destruction) {
    std::atomic<int> completed{0};
    constexpr int requests = 20;
    {
        passdb_authenticator auth(sample_passdb(), test_penalty, 2, requests);
        for (int i = 0; i < requests; ++i) {
            auth_request request{{"", "carol", core::secret_string(std::string_view("carol pw"))},
                                 "PLAIN",
                                 "192.0.2.1"};
            auth.authenticate(std::move(request), [&](const auth_outcome& outcome) {
                if (outcome.status == auth_status::ok) ++completed;
            });
        }
    }
    EXPECT_EQ(completed.load(), requests);
}

}  // namespace
}  // namespace submitd::auth
