// Event-loop threads of the load generator; see runner.hpp.
#include "loadgen/runner.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cstdio>
#include <exception>

namespace submitd::bench {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Load mode reads small replies only; idle mode keeps thousands of buffers.
constexpr std::size_t load_buffer = 16 * 1024;
constexpr std::size_t idle_buffer = 4 * 1024;

// After a failed connection setup, so that a refused port does not spin.
constexpr std::chrono::milliseconds setup_backoff{100};

std::uint64_t ns_between(clock_type::time_point a, clock_type::time_point b) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

}  // namespace

run_control::run_control(const options& opts,
                         std::function<void(std::uint64_t, std::uint64_t)> on_ready)
    : by_time_(opts.duration_s > 0),
      total_(opts.messages),
      duration_s_(opts.duration_s),
      on_ready_(std::move(on_ready)) {}

void run_control::start(clock_type::time_point now) {
    end_ = now + std::chrono::duration_cast<clock_type::duration>(
                     std::chrono::duration<double>(duration_s_));
}

bool run_control::claim() {
    if (stop_requested()) return false;
    if (by_time_) return clock_type::now() < end_;
    return issued_.fetch_add(1, std::memory_order_relaxed) < total_;
}

void run_control::runner_done_opening() {
    if (runners_opening_.fetch_sub(1) == 1) on_ready_(idle_ok_.load(), idle_failed_.load());
}

runner::runner(const setup& s, run_control& control) : setup_(s), control_(control) {}

runner::~runner() = default;

void runner::task_ended(std::exception_ptr e) {
    if (e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            fmt::print(stderr, "submitd-bench-load: task failed: {}\n", x.what());
        }
    }
    if (--tasks_ > 0) return;
    // Nothing left to time: let the event loop run out of work.
    watchdog_timer_.cancel();
}

void runner::add_failure(std::string text) {
    ++stats_.failed;
    stats_.add_error(std::move(text));
}

void runner::start_load(unsigned connections) {
    std::uint64_t expected = setup_.opts.duration_s > 0 ? 1u << 20 : setup_.opts.messages;
    stats_.latency_ns.reserve(std::min<std::uint64_t>(expected, 1u << 22));
    if (setup_.opts.messages_per_conn == 1)
        stats_.session_ns.reserve(std::min<std::uint64_t>(expected, 1u << 22));
    for (unsigned i = 0; i < connections; ++i) {
        conns_.push_back(std::make_unique<connection>(io_, setup_, tick_, load_buffer));
        ++tasks_;
        asio::co_spawn(io_, load_worker(conns_.back().get()),
                       [this](std::exception_ptr e) { task_ended(e); });
    }
}

void runner::start_idle(unsigned sessions, unsigned openers) {
    idle_ = true;
    for (unsigned i = 0; i < sessions; ++i)
        conns_.push_back(std::make_unique<connection>(io_, setup_, tick_, idle_buffer));
    held_.reserve(sessions);
    openers_ = std::max(1u, std::min(openers, sessions));
    for (unsigned i = 0; i < openers_; ++i) {
        ++tasks_;
        asio::co_spawn(io_, idle_opener(), [this](std::exception_ptr e) {
            if (--openers_ == 0) control_.runner_done_opening();
            task_ended(e);
        });
    }
}

void runner::run() {
    asio::co_spawn(io_, watchdog(), asio::detached);
    io_.run();
}

void runner::stop() {
    asio::post(io_, [this] { on_stop(); });
}

void runner::on_stop() {
    stopping_ = true;
    for (connection* c : held_)
        c->request_quit();
}

asio::awaitable<void> runner::watchdog() {
    while (tasks_ > 0) {
        watchdog_timer_.expires_after(std::chrono::seconds(1));
        auto [ec] = co_await watchdog_timer_.async_wait(use_tuple);
        if (ec || tasks_ == 0) co_return;
        ++tick_;
        for (auto& c : conns_)
            c->check_deadline(tick_);
    }
}

asio::awaitable<void> runner::pause(std::chrono::milliseconds d) {
    asio::steady_timer t(io_, d);
    auto [ec] = co_await t.async_wait(use_tuple);
    static_cast<void>(ec);
}

asio::awaitable<void> runner::load_worker(connection* c) {
    const std::uint64_t per_conn = setup_.opts.messages_per_conn;
    const std::uint64_t size = setup_.bytes.message_size;
    bool claimed = control_.claim();  // a claim is held for the next message
    while (claimed) {
        const auto connect_start = clock_type::now();
        auto opened = co_await c->open();
        if (!opened.ok) {
            add_failure(std::move(opened.what));
            c->close();
            co_await pause(setup_backoff);
            claimed = control_.claim();
            continue;
        }
        bool healthy = true;
        std::uint64_t sent = 0;
        while (claimed) {
            const auto start = clock_type::now();
            auto r = co_await c->send_message();
            const auto end = clock_type::now();
            if (r.ok) {
                ++stats_.ok;
                stats_.ok_bytes += size;
                stats_.latency_ns.push_back(ns_between(start, end));
                if (per_conn == 1) stats_.session_ns.push_back(ns_between(connect_start, end));
            } else {
                add_failure(std::move(r.what));
                healthy = false;
            }
            claimed = control_.claim();
            if (!healthy || ++sent == per_conn) break;
        }
        if (healthy) {
            co_await c->quit();
        } else {
            c->close();
        }
    }
}

asio::awaitable<void> runner::idle_opener() {
    while (!stopping_ && next_idle_ < conns_.size()) {
        connection* c = conns_[next_idle_++].get();
        auto r = co_await c->open();
        control_.idle_opened(r.ok);
        if (!r.ok) {
            add_failure(std::move(r.what));
            c->close();
            continue;
        }
        ++stats_.ok;
        if (stopping_) {
            co_await c->quit();
            continue;
        }
        held_.push_back(c);
        ++tasks_;
        asio::co_spawn(io_, hold_one(c), [this](std::exception_ptr e) { task_ended(e); });
    }
}

asio::awaitable<void> runner::hold_one(connection* c) {
    auto r = co_await c->hold();
    if (!r.ok) {
        ++stats_.dropped;
        stats_.add_error(std::move(r.what));
    }
}

}  // namespace submitd::bench
