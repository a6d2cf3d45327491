// Learns the relays' capabilities off the event loops: at start-up, every
// relay_client.capability_refresh seconds, and at once after a reload. It
// runs its own thread and event loop and opens a short relay connection
// (greeting, EHLO, TLS, AUTH, XCLIENT as configured, then QUIT), so that no
// login ever waits for a relay. Each result is logged (relay-capabilities)
// and stored in the shared relay::caps_cache.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "relay/caps_cache.hpp"
#include "submission/relay_connection.hpp"

namespace submitd::server {

class prober {
public:
    explicit prober(std::shared_ptr<relay::caps_cache> cache);
    ~prober();
    prober(const prober&) = delete;
    prober& operator=(const prober&) = delete;

    /// Starts probing `ctx` now and then periodically (replaces the previous).
    void set_relays(std::shared_ptr<const submission::relay_context> ctx);
    void stop();

private:
    void run();
    void probe(const std::shared_ptr<const submission::relay_context>& ctx);

    std::shared_ptr<relay::caps_cache> cache_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::shared_ptr<const submission::relay_context> ctx_;
    bool changed_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace submitd::server
