// One event loop thread with its own listening sockets and sessions
// (DESIGN.md section 2.3). Everything here is touched only on the worker's
// own thread, except through post().
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "net/conn_limiter.hpp"
#include "net/stream.hpp"
#include "server/runtime.hpp"

namespace submitd::server {

class worker {
public:
    worker(unsigned index, runtime_ptr rt, std::shared_ptr<net::conn_limiter> limiter);

    /// Binds a socket for listener `i` of the runtime (SO_REUSEPORT), on
    /// `port` when not 0. Listeners are bound in order: 0, 1, 2...
    /// @return the bound port. @throws std::system_error
    std::uint16_t bind(std::size_t i, std::uint16_t port);

    void start();  ///< starts the thread: accept loops, then the event loop
    void join();

    /// Thread-safe: posts the new runtime for sessions accepted from now on.
    void set_runtime(runtime_ptr rt);
    /// Thread-safe: stops accepting and asks sessions to finish.
    void stop_accepting();
    /// Thread-safe: closes every remaining session and ends the event loop.
    void stop();

    std::size_t sessions() const { return session_count_.load(); }
    /// Sessions accepted since start (thread-safe).
    std::uint64_t sessions_started() const { return sessions_started_.load(); }

private:
    asio::awaitable<void> accept_loop(std::size_t i);
    asio::awaitable<void> run_connection(std::size_t i, asio::ip::tcp::socket socket);
    std::string next_session_id();

    // Declared before io_: sessions still suspended when io_ is destroyed
    // unregister themselves from live_ as their frames go.
    unsigned index_;
    runtime_ptr runtime_;
    std::shared_ptr<net::conn_limiter> limiter_;
    std::unordered_set<net::stream*> live_;
    std::atomic<std::size_t> session_count_{0};
    std::atomic<std::uint64_t> sessions_started_{0};
    bool stopping_ = false;
    std::uint32_t id_prefix_;
    std::uint32_t id_counter_ = 0;
    asio::io_context io_{1};
    std::vector<asio::ip::tcp::acceptor> acceptors_;
    std::thread thread_;
};

}  // namespace submitd::server
