// A deadline for one asynchronous step of a client connection (to a relay or
// an IMAP server): calls `on_expiry` (typically cancelling the socket's
// operations) once the duration passes, unless destroyed first. The timer's
// handler may already be queued when the deadline goes away, so it checks a
// shared flag instead of touching the deadline.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <system_error>

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

}  // namespace submitd::net
