// Failure penalties with an injected clock: doubling, the cap, reset on
// success, expiry, the bound on tracked entries.
#include "auth/penalty.hpp"

#include <gtest/gtest.h>

#include <string>

namespace submitd::auth {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

class penalty_test : public testing::Test {
protected:
    penalty_tracker make(penalty_settings s = {100ms, 1000ms, 60s, 1000}) {
        return penalty_tracker(s, [this] { return now_; });
    }
    penalty_tracker::clock::time_point now_{};
};

TEST_F(penalty_test, no_failures_no_delay) {
    auto p = make();
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 0ms);
    EXPECT_EQ(p.delay("", ""), 0ms);
}

TEST_F(penalty_test, doubles_up_to_the_cap) {
    auto p = make();
    const milliseconds want[] = {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms, 1000ms};
    for (auto w : want) {
        p.record_failure("192.0.2.1", "bob");
        EXPECT_EQ(p.delay("192.0.2.1", "bob"), w);
    }
    for (int i = 0; i < 2000; ++i)
        p.record_failure("192.0.2.1", "bob");  // no overflow
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 1000ms);
}

TEST_F(penalty_test, larger_of_address_and_user_counts) {
    auto p = make();
    // One address guessing many users.
    p.record_failure("192.0.2.1", "u1");
    p.record_failure("192.0.2.1", "u2");
    p.record_failure("192.0.2.1", "u3");
    EXPECT_EQ(p.delay("192.0.2.1", "u4"), 400ms);
    // Many addresses guessing one user.
    p.record_failure("198.51.100.1", "bob");
    p.record_failure("198.51.100.2", "bob");
    EXPECT_EQ(p.delay("198.51.100.3", "bob"), 200ms);
    EXPECT_EQ(p.delay("198.51.100.3", "carol"), 0ms);
}

TEST_F(penalty_test, success_resets_the_address_only) {
    auto p = make();
    p.record_failure("192.0.2.1", "bob");
    p.record_failure("192.0.2.1", "bob");
    p.record_success("192.0.2.1");
    EXPECT_EQ(p.delay("192.0.2.1", "carol"), 0ms);
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 200ms);  // the user's failures stay
    p.record_failure("192.0.2.1", "carol");
    EXPECT_EQ(p.delay("192.0.2.1", "carol"), 100ms);  // counting starts again
}

TEST_F(penalty_test, failures_expire_after_the_window) {
    auto p = make();
    p.record_failure("192.0.2.1", "bob");
    p.record_failure("192.0.2.1", "bob");
    now_ += 59s;
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 200ms);
    p.record_failure("192.0.2.1", "bob");  // the window restarts from the last failure
    now_ += 59s;
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 400ms);
    now_ += 1s;
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 0ms);
    p.record_failure("192.0.2.1", "bob");
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 100ms);  // a fresh count
    EXPECT_EQ(p.tracked(), 2U);                     // the expired ones were replaced
}

TEST_F(penalty_test, expired_entries_are_pruned) {
    auto p = make();
    p.record_failure("192.0.2.1", "bob");
    p.record_failure("192.0.2.2", "carol");
    EXPECT_EQ(p.tracked(), 4U);
    now_ += 61s;
    p.record_failure("192.0.2.3", "dave");
    EXPECT_EQ(p.tracked(), 2U);
}

TEST_F(penalty_test, bounded_with_oldest_evicted) {
    auto p = make({100ms, 1000ms, 60s, 10});
    p.record_failure("192.0.2.1", "");
    p.record_failure("192.0.2.1", "");
    for (int i = 0; i < 10; ++i) {
        now_ += 1ms;
        p.record_failure("10.0.0." + std::to_string(i), "");
    }
    EXPECT_EQ(p.tracked(), 10U);
    EXPECT_EQ(p.delay("192.0.2.1", ""), 0ms);   // evicted, the oldest
    EXPECT_EQ(p.delay("10.0.0.9", ""), 100ms);  // still there
    EXPECT_EQ(p.delay("10.0.0.0", ""), 100ms);
}

TEST_F(penalty_test, refreshed_entry_is_not_the_oldest) {
    auto p = make({100ms, 1000ms, 60s, 2});
    p.record_failure("a", "");
    now_ += 1ms;
    p.record_failure("b", "");
    now_ += 1ms;
    p.record_failure("a", "");  // a is now newer than b
    now_ += 1ms;
    p.record_failure("c", "");  // evicts b
    EXPECT_EQ(p.delay("a", ""), 200ms);
    EXPECT_EQ(p.delay("b", ""), 0ms);
    EXPECT_EQ(p.delay("c", ""), 100ms);
}

TEST_F(penalty_test, new_settings_apply_to_recorded_counts) {
    auto p = make();
    p.record_failure("192.0.2.1", "bob");
    p.record_failure("192.0.2.1", "bob");
    p.set_settings({50ms, 75ms, 60s, 1000});
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 75ms);
    EXPECT_EQ(p.settings().base, 50ms);
    p.set_settings({0ms, 0ms, 60s, 1000});  // penalties off
    EXPECT_EQ(p.delay("192.0.2.1", "bob"), 0ms);
}

}  // namespace
}  // namespace submitd::auth
