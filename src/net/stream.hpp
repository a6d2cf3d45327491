// A client connection as the session drivers see it: a TCP socket that may
// be upgraded to TLS in place (STARTTLS) or start with it (implicit TLS),
// with byte counters and one deadline enforced by a watchdog coroutine.
//
// TLS runs OpenSSL directly on the socket's descriptor (non-blocking, waiting
// for readiness with async_wait) rather than through asio::ssl::stream, whose
// two 17 KiB record buffers per connection would dwarf the rest of an idle
// session; with SSL_MODE_RELEASE_BUFFERS an idle TLS session holds no record
// buffer at all (DESIGN.md principle 5, issue 5's memory target). When
// the deadline passes, pending operations are cancelled and timed_out() is
// set; the driver decides what to answer. Operations return error codes,
// never throw.
//
// A stream also carries the server's stop request: request_stop() sets
// stopping() and, when the session is waiting for a new command
// (set_idle(true)), cancels that read so the driver can answer 421 at once.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct ssl_st;

namespace submitd::net {

class stream : public std::enable_shared_from_this<stream> {
public:
    using clock = std::chrono::steady_clock;
    using tcp = asio::ip::tcp;

    explicit stream(tcp::socket socket);
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;
    ~stream();

    /// Starts the watchdog; call once, right after construction.
    void start();

    /// Reads what has arrived, up to `max` bytes (at most 64 KiB), and
    /// appends it to `out`; waits for readiness first when `wait_first` (or
    /// when nothing has arrived yet). The bytes land in a scratch buffer of
    /// this thread first, so that a waiting session holds no read buffer and
    /// none is allocated and zeroed per read.
    /// With `view` and `out` empty, nothing is copied: *view is set to the
    /// bytes in the scratch buffer, valid until the caller next suspends.
    asio::awaitable<std::error_code> read_append(std::string& out, std::size_t max, bool wait_first,
                                                 std::string_view* view = nullptr);
    /// The last read_append() took all it was allowed to: more is likely
    /// waiting already.
    bool last_read_full() const { return last_read_full_; }
    asio::awaitable<std::error_code> write_all(std::string_view data);
    /// Server-side TLS handshake on this connection.
    asio::awaitable<std::error_code> handshake(asio::ssl::context& ctx);
    /// Waits until the client has sent something (or gone), holding no
    /// buffer meanwhile.
    asio::awaitable<std::error_code> wait_readable();

    /// Cancels pending operations once `deadline` passes.
    void set_deadline(clock::time_point deadline);
    void set_timeout(clock::duration d) { set_deadline(clock::now() + d); }
    bool timed_out() const { return timed_out_; }

    void set_idle(bool idle) { idle_ = idle; }
    void request_stop();
    bool stopping() const { return stopping_; }

    /// Shuts the connection down (no TLS close_notify wait) and stops the watchdog.
    void close();

    bool is_tls() const { return ssl_ != nullptr; }
    std::string tls_version() const;
    std::string tls_cipher() const;
    tcp::socket& socket() { return socket_; }
    std::uint64_t bytes_in() const { return bytes_in_; }
    std::uint64_t bytes_out() const { return bytes_out_; }

private:
    static asio::awaitable<void> watchdog(std::shared_ptr<stream> self);
    /// Waits for what OpenSSL asked for (`ssl_error` WANT_READ or
    /// WANT_WRITE); any other error becomes an error code.
    asio::awaitable<std::error_code> wait_for_tls(int ssl_error);

    struct ssl_free {
        void operator()(ssl_st* s) const;
    };

    tcp::socket socket_;
    std::unique_ptr<ssl_st, ssl_free> ssl_;
    asio::steady_timer timer_;
    clock::time_point deadline_ = clock::time_point::max();
    std::uint64_t bytes_in_ = 0;
    std::uint64_t bytes_out_ = 0;
    bool timed_out_ = false;
    bool last_read_full_ = false;
    bool idle_ = false;
    bool stopping_ = false;
    bool closed_ = false;
};

using stream_ptr = std::shared_ptr<stream>;

/// @return true when `ec` means the peer went away (EOF, a TLS stream cut
/// without close_notify, a reset), as opposed to a local failure.
bool is_disconnect(const std::error_code& ec);

enum class read_status {
    data,          ///< bytes were appended
    timeout,       ///< the idle timeout or the command deadline passed
    too_slow,      ///< a message body fell below the minimum data rate (body_budget)
    stop,          ///< the server is stopping and the session is between commands
    disconnected,  ///< the client went away
    failed,        ///< another transport error
};

struct read_deadlines {
    std::chrono::milliseconds idle;     ///< waiting for a new command
    std::chrono::milliseconds command;  ///< from a command's first byte to its end
};

/// The minimum data rate of a message body (DATA, a BDAT chunk), after
/// Postfix's smtpd_min_data_rate: a time budget that starts at the idle
/// timeout, loses the time each read waited and gains bytes / min_rate for
/// what the read brought, never beyond where it started. A client that stops
/// is cut off after the idle timeout as before; one that trickles a byte at a
/// time, each read well within the idle timeout, is cut off once its budget
/// is spent instead of holding the session (and its spool) for ever. Only
/// time spent waiting for the client counts. A min_rate of 0 disables it.
class body_budget {
public:
    using clock = stream::clock;

    body_budget(std::chrono::milliseconds full, std::uint64_t min_rate)
        : full_(full), left_(full), min_rate_(min_rate) {}

    /// A body begins: the whole budget again.
    void restart();
    /// A read of the body waited `waited` and brought `bytes`.
    void on_read(clock::duration waited, std::size_t bytes);
    /// How long the next read of the body may wait.
    clock::duration left() const { return left_; }
    /// The rate has cut the budget below the idle timeout.
    bool is_short() const { return left_ < full_; }
    /// Since restart(): bytes read, and time spent waiting for them.
    std::uint64_t bytes() const { return bytes_; }
    clock::duration waited() const { return waited_; }
    std::uint64_t min_rate() const { return min_rate_; }

private:
    clock::duration full_;
    clock::duration left_;
    std::uint64_t min_rate_;
    std::uint64_t bytes_ = 0;
    clock::duration waited_{};
};

/// What the session is waiting for.
enum class wait_kind {
    command,       ///< a new command: the idle timeout; a stop request ends the wait
    command_rest,  ///< the rest of a started command line: its fixed deadline
    body,          ///< message bytes (DATA, BDAT): the idle timeout per read
};

/// Reads what the client sends next and appends it to `pending`: between
/// commands with the idle timeout (a stop request ends the wait at once),
/// within a command line until `command_start + command`, which trickled
/// bytes do not extend (slowloris), and within a message body with the idle
/// timeout for each read, so a large message on a slow link is not cut off;
/// with `budget` (which must outlive the call), a body read waits at most
/// what the budget has left and is charged to it (read_status::too_slow
/// when a budget the rate had shortened runs out).
///
/// With `fresh`, a body read into an empty `pending` is not copied there:
/// *fresh is set to the bytes in the thread's scratch buffer instead, which
/// the caller must use (and copy what it keeps) before it next suspends.
asio::awaitable<read_status> read_input(stream& s, std::string& pending, wait_kind kind,
                                        stream::clock::time_point command_start,
                                        read_deadlines deadlines, body_budget* budget = nullptr,
                                        std::string_view* fresh = nullptr);

/// Writes `out` and clears it, with `timeout` as the deadline.
/// @return false when the write failed or timed out.
asio::awaitable<bool> flush(stream& s, std::string& out, std::chrono::milliseconds timeout);

}  // namespace submitd::net
