// A deadline for one asynchronous step of a client connection (to a relay or
// an IMAP server): calls `on_expiry` (typically cancelling the socket's
// operations) once the duration passes, unless destroyed first. The timer's
// handler may already be queued when the deadline goes away, so it checks a
// shared flag instead of touching the deadline.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>

namespace submitd::net {

class deadline {
public:
    template <class F>
    deadline(const asio::any_io_executor& ex, std::chrono::milliseconds d, F on_expiry)
        : timer_(ex), state_(std::make_shared<state>()) {
        timer_.expires_after(d);
        timer_.async_wait([s = state_, on_expiry](std::error_code ec) {
            if (!ec && s->active) {
                s->expired = true;
                on_expiry();
            }
        });
    }
    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;
    ~deadline() {
        state_->active = false;
        timer_.cancel();
    }
    bool expired() const { return state_->expired; }

private:
    struct state {
        bool active = true;
        bool expired = false;
    };
    asio::steady_timer timer_;
    std::shared_ptr<state> state_;
};

/// The deadlines of a connection's steps one after another, from one timer
/// armed lazily: starting a step only records when it must end, and the
/// timer, when it fires before that, waits again for the latest end. A
/// connection doing one short step after another schedules the timer about
/// once per timeout instead of once per step (deadline does it every time).
/// Steps must not overlap: a step's guard ends the step.
class step_timer {
    struct state;

public:
    using clock = std::chrono::steady_clock;

    step_timer(const asio::any_io_executor& ex, std::function<void()> on_expiry);
    step_timer(const step_timer&) = delete;
    step_timer& operator=(const step_timer&) = delete;
    ~step_timer();

    /// Ends its step when it goes out of scope.
    class guard {
    public:
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;
        ~guard();
        /// @return the step ran out of time (`on_expiry` was called).
        bool expired() const;

    private:
        friend class step_timer;
        explicit guard(std::shared_ptr<state> st) : st_(std::move(st)) {}
        std::shared_ptr<state> st_;
    };

    /// Starts a step that must end within `d`.
    [[nodiscard]] guard start(std::chrono::milliseconds d);

private:
    struct state {
        state(const asio::any_io_executor& ex, std::function<void()> f)
            : timer(ex), on_expiry(std::move(f)) {}
        asio::steady_timer timer;
        std::function<void()> on_expiry;
        clock::time_point due{};
        bool active = false;   ///< a step is running
        bool expired = false;  ///< the running (or last) step ran out of time
        bool waiting = false;  ///< the timer has a wait pending
        bool closed = false;   ///< the owner is gone
    };

    static void arm(const std::shared_ptr<state>& st);

    std::shared_ptr<state> state_;
};

inline step_timer::step_timer(const asio::any_io_executor& ex, std::function<void()> on_expiry)
    : state_(std::make_shared<state>(ex, std::move(on_expiry))) {}

inline step_timer::~step_timer() {
    state_->closed = true;
    state_->timer.cancel();
}

inline step_timer::guard::~guard() {
    st_->active = false;
}

inline bool step_timer::guard::expired() const {
    return st_->expired;
}

inline step_timer::guard step_timer::start(std::chrono::milliseconds d) {
    state& st = *state_;
    st.due = clock::now() + d;
    st.active = true;
    st.expired = false;
    if (!st.waiting) {
        arm(state_);
    } else if (st.due < st.timer.expiry()) {
        st.timer.cancel();  // its handler waits again, for the new end
    }
    return guard(state_);
}

inline void step_timer::arm(const std::shared_ptr<state>& st) {
    st->waiting = true;
    st->timer.expires_at(st->due);
    st->timer.async_wait([st](std::error_code) {
        st->waiting = false;
        if (st->closed || !st->active) return;
        if (clock::now() < st->due) {
            arm(st);
            return;
        }
        st->active = false;
        st->expired = true;
        st->on_expiry();
    });
}

}  // namespace submitd::net
