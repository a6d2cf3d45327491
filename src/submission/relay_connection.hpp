// A session's connection to the relay MTAs: TCP (optionally TLS, STARTTLS or
// implicit) or a UNIX socket, opened through relay::handshake (EHLO, TLS,
// AUTH, XCLIENT), then used for the session's transactions. Relays are tried
// in order; a connection that broke is replaced on the next use. Every wait
// has a deadline (connect, command, data). Failures are reported to the
// caller as values and logged as relay-failed lines with the stage.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "ipc/handoff.hpp"
#include "net/deadline.hpp"
#include "relay/handshake.hpp"
#include "smtp/data_codec.hpp"
#include "submission/relay_link.hpp"

namespace submitd::submission {

/// The relays of one configuration load with their TLS client contexts.
struct relay_context {
    std::vector<config::relay_settings> relays;
    std::vector<std::shared_ptr<asio::ssl::context>> tls;  ///< per relay; null without TLS
    config::relay_client_settings client;
};

/// Builds the TLS client contexts. @throws std::runtime_error (bad CA file).
std::shared_ptr<const relay_context> make_relay_context(const config::settings& s);

class relay_connection final : public relay_link {
public:
    relay_connection(asio::any_io_executor ex, std::shared_ptr<const relay_context> ctx,
                     const ipc::handoff& session);
    ~relay_connection() override;

    asio::awaitable<std::optional<std::vector<relay::reply>>> commands(
        const std::vector<std::string>& lines) override;
    asio::awaitable<relay_outcome> message(const transaction& tx, std::string header,
                                           const spool& body) override;
    /// Writes DATA when the transaction is open here and the relay has no
    /// CHUNKING (the message will go as BDAT ... LAST in one write).
    asio::awaitable<void> begin_data() override;
    /// Reads the relay's 354 the first time, then writes the header and the
    /// spool's new bytes, dot-stuffed. A relay that refused DATA gets nothing
    /// (message() gives its reply); a failed write closes the connection
    /// (message() starts again on a new one).
    asio::awaitable<void> stream(const std::string& header, const spool& body) override;
    relay_failure failure() const override { return failure_; }
    const std::string& address() const override;
    asio::awaitable<void> close() override;
    /// Parks the connection for a later session of this thread when it can
    /// serve one (connected, no transaction open, no per-session identity:
    /// neither XCLIENT nor AUTH as the client), else close()s it.
    asio::awaitable<void> release(std::unique_ptr<relay_link> self) override;

    /// A parked connection to `ctx`'s relays, now serving `session`; null
    /// when there is none. Connections parked longer than
    /// relay_client.idle_timeout, or that the relay closed, are dropped.
    static std::unique_ptr<relay_connection> take_parked(
        const std::shared_ptr<const relay_context>& ctx, const ipc::handoff& session);
    /// Closes this thread's parked connections (the worker, before its
    /// event loop goes).
    static void close_parked();
    bool connected() const override { return connected_; }
    void abort(std::string_view reason) override;
    /// The session served, for logs ("-" while parked).
    std::string_view sid() const { return session_ ? std::string_view(session_->session_id) : "-"; }
    /// How long a connection may wait unused (relay_client.idle_timeout).
    std::chrono::milliseconds idle_limit() const { return ctx_->client.idle_timeout; }
    std::optional<relay::capabilities> learnt() const override {
        if (!connected_) return std::nullopt;
        return caps_;
    }

private:
    asio::awaitable<bool> connect_any(std::size_t first);
    asio::awaitable<bool> connect_one(std::size_t i);
    asio::awaitable<bool> run_handshake(std::size_t i);
    asio::awaitable<bool> start_tls(std::size_t i);
    asio::awaitable<std::optional<std::vector<relay::reply>>> exchange(
        const std::vector<std::string>& lines);
    asio::awaitable<bool> write(std::string_view data);
    asio::awaitable<std::optional<relay::reply>> read_reply(config::milliseconds timeout);
    /// Reads what the relay sent into the read buffer and appends it to in_.
    asio::awaitable<std::error_code> read_more();
    /// Writes `out` (a command, or nothing) then `header` and `body`,
    /// dot-stuffed with `stuff`, in writes of about 64 KiB.
    asio::awaitable<bool> send_body(std::string out, std::string header, const spool& body,
                                    bool stuff);
    /// Appends the bytes of `body` from `offset` on to `out` (dot-stuffed by
    /// stuffer_ with `stuff`), writing `out` whenever it passes 64 KiB;
    /// `offset` ends at body.size(). False when the spool could not be read
    /// or a write failed.
    asio::awaitable<bool> put_spool(const spool& body, std::uint64_t& offset, bool stuff,
                                    std::string& out);
    void drop(std::string_view stage, std::string_view reason);
    void close_sockets();
    /// Cancels pending socket operations (a deadline passed).
    void cancel_io();

    asio::any_io_executor ex_;
    std::shared_ptr<const relay_context> ctx_;
    const ipc::handoff* session_;  ///< rebound when a parked connection is taken
    /// The deadline of each step (connect, TLS, a command, a reply, the body).
    net::step_timer steps_;
    bool tx_open_ = false;  ///< MAIL sent, the transaction not ended
    /// DATA written by begin_data(), its reply not read yet: the relay now
    /// reads everything as the message, so only message() may use the
    /// connection; anything else closes it first (no end of data, no mail).
    bool data_sent_ = false;
    /// A message passed on by stream() while the client sends it.
    struct streamed {
        bool started = false;                 ///< the relay's 354 read, the header sent
        std::uint64_t sent = 0;               ///< bytes of the spool sent
        std::optional<relay::reply> refused;  ///< the relay's reply to DATA, not 354
    };
    streamed stream_;
    smtp::dot_stuffer stuffer_;  ///< of the message being sent
    std::optional<asio::ip::tcp::socket> tcp_;
    std::optional<asio::local::stream_protocol::socket> unix_;
    std::optional<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
    relay::reply_parser parser_;
    std::string in_;
    std::string out_;  ///< a group of commands being written (its capacity kept)
    /// Where reads land before in_ (allocated on the first read; not on a
    /// coroutine frame, which would then be too big for Asio to recycle).
    std::unique_ptr<char[]> read_buf_;
    relay::capabilities caps_;
    std::size_t current_ = 0;
    bool connected_ = false;
    relay_failure failure_ = relay_failure::unreachable;
    std::error_code last_error_;  ///< of the last failed read
};

}  // namespace submitd::submission
