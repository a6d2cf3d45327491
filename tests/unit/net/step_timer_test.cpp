// net::step_timer: one lazily armed timer for a connection's steps.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "net/deadline.hpp"

namespace submitd::net {
namespace {

using namespace std::chrono_literals;
using clock = step_timer::clock;

TEST(StepTimer, StepEndedInTimeNeverExpires) {
    asio::io_context io;
    int expiries = 0;
    step_timer t(io.get_executor(), [&] { ++expiries; });
    {
        auto g = t.start(5ms);
        EXPECT_FALSE(g.expired());
    }
    // The timer still fires once, finds no step running and stops: run()
    // returns with nothing left to wait for.
    io.run();
    EXPECT_EQ(expiries, 0);
}

TEST(StepTimer, StepRunningPastItsTimeExpires) {
    asio::io_context io;
    int expiries = 0;
    step_timer t(io.get_executor(), [&] { ++expiries; });
    auto started = clock::now();
    auto g = t.start(5ms);
    io.run();
    EXPECT_EQ(expiries, 1);
    EXPECT_TRUE(g.expired());
    EXPECT_GE(clock::now() - started, 5ms);
}

TEST(StepTimer, LaterStepWaitsForItsOwnEnd) {
    asio::io_context io;
    std::optional<clock::time_point> expired_at;
    step_timer t(io.get_executor(), [&] { expired_at = clock::now(); });
    { auto first = t.start(5ms); }
    // The timer is armed for the first step's end; the second must not
    // expire then but at its own.
    auto second_due = clock::now() + 30ms;
    auto second = t.start(30ms);
    io.run();
    ASSERT_TRUE(expired_at.has_value());
    EXPECT_GE(*expired_at, second_due);
    EXPECT_TRUE(second.expired());
}

TEST(StepTimer, ShorterStepMovesTheTimerForward) {
    asio::io_context io;
    std::vector<std::string> order;
    step_timer t(io.get_executor(), [&] { order.emplace_back("step"); });
    { auto first = t.start(std::chrono::milliseconds(60'000)); }
    auto second = t.start(5ms);
    // A plain timer due after the second step's end: timers run in the
    // order of their ends, so the step's expiry comes first.
    asio::steady_timer other(io, 20ms);
    other.async_wait([&](std::error_code) { order.emplace_back("other"); });
    io.run_for(std::chrono::seconds(30));
    EXPECT_EQ(order, (std::vector<std::string>{"step", "other"}));
    EXPECT_TRUE(second.expired());
}

TEST(StepTimer, NextStepStartsUnexpired) {
    asio::io_context io;
    int expiries = 0;
    step_timer t(io.get_executor(), [&] { ++expiries; });
    {
        auto g = t.start(1ms);
        io.run();
        EXPECT_TRUE(g.expired());
    }
    io.restart();
    auto g = t.start(std::chrono::milliseconds(60'000));
    EXPECT_FALSE(g.expired());
    EXPECT_EQ(expiries, 1);
}

TEST(StepTimer, DestroyedWithAWaitPendingCallsNothing) {
    asio::io_context io;
    int expiries = 0;
    {
        step_timer t(io.get_executor(), [&] { ++expiries; });
        auto g = t.start(5ms);
    }
    io.run();
    EXPECT_EQ(expiries, 0);
}

}  // namespace
}  // namespace submitd::net
