// One client SMTP session of the load generator: connect, greeting, EHLO,
// STARTTLS or implicit TLS, AUTH PLAIN, then messages (one command per round
// trip or pipelined, RFC 2920) and QUIT; or, in idle mode, hold the session
// until told to QUIT. Every reply code is checked; a failure is returned as
// its text ("MAIL: 451 4.3.0 ...", "connect: Connection refused"), never
// thrown, and leaves the connection to be closed. It does not retry or count:
// the runner does. Time limits come from a watchdog that calls
// check_deadline() once a tick and cancels an operation that has run too
// long; there is no timer per operation.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "loadgen/options.hpp"
#include "loadgen/script.hpp"

namespace submitd::bench {

/// What every connection shares, read-only once the run starts.
struct setup {
    options opts;
    script bytes;
    asio::ip::tcp::endpoint endpoint;
    std::shared_ptr<asio::ssl::context> tls;  ///< null with --tls none
    std::string verify_name;                  ///< empty: no certificate verification
    std::uint64_t op_timeout_ticks = 120;     ///< watchdog ticks (seconds) per step
    std::uint64_t quit_timeout_ticks = 5;
};

/// Success, or the text of the failure.
struct outcome {
    bool ok = true;
    std::string what;
};

class connection {
public:
    /// @param tick the watchdog's tick counter, which outlives the connection.
    connection(asio::io_context& io, const setup& s, const std::uint64_t& tick,
               std::size_t buffer_size);
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Connects and runs the session up to and including AUTH.
    asio::awaitable<outcome> open();
    /// One transaction, MAIL to the 250 after the body.
    asio::awaitable<outcome> send_message();
    /// QUIT, a short wait for its reply (whatever the code), then close.
    asio::awaitable<void> quit();

    /// Idle mode: waits while the session is held, with a read pending so
    /// that a server closing or speaking first (a failure) is seen at once.
    /// After request_quit() it sends QUIT, closes and succeeds.
    asio::awaitable<outcome> hold();
    /// Idle mode: makes hold() QUIT (cancelling its read, which leaves a TLS
    /// stream usable).
    void request_quit();

    void close();
    /// Cancels the pending operation once it has run past its time limit.
    void check_deadline(std::uint64_t now_tick);

private:
    asio::awaitable<std::error_code> connect();
    asio::awaitable<std::error_code> handshake();
    asio::awaitable<std::error_code> write(asio::const_buffer data);
    asio::awaitable<std::error_code> write_body();
    asio::awaitable<std::error_code> read_more();
    /// Reads one reply and checks its code; the reply stays in last_reply_.
    asio::awaitable<outcome> expect(int code, const char* stage);
    outcome failure(const char* stage, std::error_code ec) const;
    void arm() {
        armed_at_ = tick_;
        armed_ = true;
    }

    const setup& setup_;
    const std::uint64_t& tick_;
    asio::ip::tcp::socket socket_;
    std::optional<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
    std::unique_ptr<char[]> buf_;
    std::size_t capacity_;
    std::size_t head_ = 0;  // unparsed bytes are [head_, tail_)
    std::size_t tail_ = 0;
    std::string_view last_reply_;
    std::uint64_t timeout_ticks_;
    std::uint64_t armed_at_ = 0;
    bool armed_ = false;
    bool timed_out_ = false;
    bool quitting_ = false;
};

}  // namespace submitd::bench
