// One event-loop thread of the load generator and the state its threads
// share. A runner owns an io_context, its connections, a watchdog that ticks
// once a second and enforces every connection's time limit, and its own
// stats (merged by main once it has stopped). Load mode: one coroutine per
// connection claims messages from run_control until the budget or the time
// is used up, replacing a connection after any failure (after a short pause
// when setting it up failed). Idle mode: a bounded number of openers set up
// the sessions, which are then held until stop().
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "loadgen/connection.hpp"
#include "loadgen/stats.hpp"

namespace submitd::bench {

using clock_type = std::chrono::steady_clock;

/// Shared by all runners; every member is safe to use from any thread.
class run_control {
public:
    /// @param on_ready called once, by the last runner to finish opening
    ///        its idle sessions, with the counts of all runners.
    run_control(const options& opts, std::function<void(std::uint64_t, std::uint64_t)> on_ready);

    /// Starts the clock of --duration.
    void start(clock_type::time_point now);
    /// Whether one more message may be started.
    bool claim();
    void request_stop() { stop_.store(true, std::memory_order_relaxed); }
    bool stop_requested() const { return stop_.load(std::memory_order_relaxed); }

    void idle_opened(bool ok) { (ok ? idle_ok_ : idle_failed_).fetch_add(1); }
    void runner_done_opening();
    void expect_openers(unsigned runners) { runners_opening_.store(runners); }

private:
    const bool by_time_;
    const std::uint64_t total_;
    const double duration_s_;
    clock_type::time_point end_;
    std::atomic<std::uint64_t> issued_{0};
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> idle_ok_{0};
    std::atomic<std::uint64_t> idle_failed_{0};
    std::atomic<unsigned> runners_opening_{0};
    std::function<void(std::uint64_t, std::uint64_t)> on_ready_;
};

class runner {
public:
    runner(const setup& s, run_control& control);
    runner(const runner&) = delete;
    runner& operator=(const runner&) = delete;
    ~runner();

    /// Before run(): this runner's share of the connections.
    void start_load(unsigned connections);
    /// Before run(): this runner's share of the idle sessions.
    void start_idle(unsigned sessions, unsigned openers);
    /// Runs the event loop until all work is done (call from its thread).
    void run();
    /// Thread-safe: stop starting messages; in idle mode, QUIT the sessions.
    void stop();
    /// After run() returned.
    stats& results() { return stats_; }

private:
    asio::awaitable<void> load_worker(connection* c);
    asio::awaitable<void> idle_opener();
    asio::awaitable<void> hold_one(connection* c);
    asio::awaitable<void> watchdog();
    asio::awaitable<void> pause(std::chrono::milliseconds d);
    void on_stop();
    void task_ended(std::exception_ptr e);
    void add_failure(std::string text);

    const setup& setup_;
    run_control& control_;
    asio::io_context io_{1};
    asio::steady_timer watchdog_timer_{io_};
    std::uint64_t tick_ = 0;
    std::vector<std::unique_ptr<connection>> conns_;
    std::vector<connection*> held_;
    std::size_t next_idle_ = 0;
    unsigned tasks_ = 0;  // workers, openers and held sessions still running
    unsigned openers_ = 0;
    bool idle_ = false;
    bool stopping_ = false;
    stats stats_;
};

}  // namespace submitd::bench
