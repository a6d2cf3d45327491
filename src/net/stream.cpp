// Client connection with TLS upgrade and a deadline; see stream.hpp.
#include "net/stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>

namespace submitd::net {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// What an OpenSSL call that failed with `ssl_error` means, as the error
/// codes asio::ssl::stream gave (is_disconnect() knows them).
std::error_code tls_error(int ssl_error, int saved_errno) {
    unsigned long e = ERR_peek_error();
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;  // close_notify
    if (ssl_error == SSL_ERROR_SYSCALL && e == 0) {
        // The peer closed (or reset) without close_notify.
        if (saved_errno != 0) return {saved_errno, std::system_category()};
        return asio::ssl::error::stream_truncated;
    }
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return asio::ssl::error::stream_truncated;
    }
    std::error_code ec(static_cast<int>(e), asio::error::get_ssl_category());
    ERR_clear_error();
    if (!ec) ec = asio::error::fault;
    return ec;
}

}  // namespace

void stream::ssl_free::operator()(ssl_st* s) const {
    SSL_free(s);
}

stream::stream(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {}

stream::~stream() = default;

void stream::start() {
    asio::co_spawn(socket_.get_executor(), watchdog(shared_from_this()), asio::detached);
}

asio::awaitable<void> stream::watchdog(stream_ptr self) {
    // Holds the stream alive until it is closed; the driver always closes it.
    while (!self->closed_) {
        self->timer_.expires_at(self->deadline_);
        co_await self->timer_.async_wait(use_tuple);
        if (self->closed_) break;
        if (clock::now() >= self->deadline_) {
            self->timed_out_ = true;
            self->deadline_ = clock::time_point::max();
            std::error_code ignored;
            self->socket_.cancel(ignored);
        }
    }
}

void stream::set_deadline(clock::time_point deadline) {
    timed_out_ = false;
    deadline_ = deadline;
    if (deadline < timer_.expiry()) timer_.cancel();
}

void stream::request_stop() {
    stopping_ = true;
    if (idle_) {
        std::error_code ignored;
        socket_.cancel(ignored);
    }
}

void stream::close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    std::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

asio::awaitable<std::error_code> stream::wait_for_tls(int ssl_error) {
    if (ssl_error == SSL_ERROR_WANT_READ) {
        auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, use_tuple);
        co_return ec;
    }
    if (ssl_error == SSL_ERROR_WANT_WRITE) {
        auto [ec] = co_await socket_.async_wait(tcp::socket::wait_write, use_tuple);
        co_return ec;
    }
    co_return tls_error(ssl_error, errno);
}

asio::awaitable<std::pair<std::error_code, std::size_t>> stream::read_some(
    asio::mutable_buffer buf) {
    std::error_code ec;
    std::size_t n = 0;
    if (!ssl_) {
        std::tie(ec, n) = co_await socket_.async_read_some(buf, use_tuple);
        bytes_in_ += n;
        co_return std::pair{ec, n};
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n);
        if (r == 1) break;
        int err = SSL_get_error(ssl_.get(), r);
        n = 0;
        ec = co_await wait_for_tls(err);
        if (ec) break;
    }
    bytes_in_ += n;
    co_return std::pair{ec, n};
}

asio::awaitable<std::error_code> stream::write_all(std::string_view data) {
    std::error_code ec;
    if (!ssl_) {
        std::size_t n = 0;
        std::tie(ec, n) = co_await asio::async_write(socket_, asio::buffer(data), use_tuple);
        bytes_out_ += n;
        co_return ec;
    }
    while (!data.empty()) {
        ERR_clear_error();
        errno = 0;
        std::size_t n = 0;
        int r = SSL_write_ex(ssl_.get(), data.data(), data.size(), &n);
        if (r == 1) {
            data.remove_prefix(n);
            bytes_out_ += n;
            continue;
        }
        int err = SSL_get_error(ssl_.get(), r);
        ec = co_await wait_for_tls(err);
        if (ec) break;
    }
    co_return ec;
}

asio::awaitable<std::error_code> stream::handshake(asio::ssl::context& ctx) {
    std::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) co_return ec;
    ssl_.reset(SSL_new(ctx.native_handle()));
    if (!ssl_ || SSL_set_fd(ssl_.get(), static_cast<int>(socket_.native_handle())) != 1) {
        co_return tls_error(SSL_ERROR_SSL, 0);
    }
    // Partial writes: write_all() goes on from where a full socket stopped it.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_accept_state(ssl_.get());
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_do_handshake(ssl_.get());
        if (r == 1) co_return std::error_code{};
        int err = SSL_get_error(ssl_.get(), r);
        ec = co_await wait_for_tls(err);
        if (ec) co_return ec;
    }
}

asio::awaitable<std::error_code> stream::wait_readable() {
    // Bytes OpenSSL has already decrypted (or read) are ready now.
    if (ssl_ && SSL_has_pending(ssl_.get()) == 1) co_return std::error_code{};
    auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, use_tuple);
    co_return ec;
}

std::string stream::tls_version() const {
    if (!ssl_) return {};
    return SSL_get_version(ssl_.get());
}

std::string stream::tls_cipher() const {
    if (!ssl_) return {};
    const char* name = SSL_get_cipher_name(ssl_.get());
    return name != nullptr ? name : "";
}

bool is_disconnect(const std::error_code& ec) {
    return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

asio::awaitable<read_status> read_input(stream& s, std::string& pending, wait_kind kind,
                                        stream::clock::time_point command_start,
                                        read_deadlines deadlines) {
    // Commands are short; a message body comes in large reads (fewer system
    // calls, decoder passes and spool writes per megabyte).
    const std::size_t chunk = kind == wait_kind::body ? 65536 : 4096;
    bool between = kind == wait_kind::command;
    if (between && s.stopping()) co_return read_status::stop;
    if (kind == wait_kind::command_rest) {
        s.set_deadline(command_start + deadlines.command);
    } else {
        s.set_timeout(deadlines.idle);
    }
    s.set_idle(between);
    std::error_code ec;
    if (between && pending.empty()) {
        // An idle session holds no read buffer: wait for the next command
        // with none, and take one only once there is something to read.
        std::string().swap(pending);
        ec = co_await s.wait_readable();
    }
    if (!ec) {
        std::size_t old = pending.size();
        pending.resize(old + chunk);
        auto [rec, n] = co_await s.read_some(asio::buffer(pending.data() + old, chunk));
        pending.resize(old + n);
        ec = rec;
    }
    s.set_idle(false);
    if (!ec) co_return read_status::data;
    if (s.timed_out()) co_return read_status::timeout;
    if (s.stopping() && ec == asio::error::operation_aborted) co_return read_status::stop;
    co_return is_disconnect(ec) ? read_status::disconnected : read_status::failed;
}

asio::awaitable<bool> flush(stream& s, std::string& out, std::chrono::milliseconds timeout) {
    if (out.empty()) co_return true;
    s.set_timeout(timeout);
    auto ec = co_await s.write_all(out);
    out.clear();
    co_return !ec;
}

}  // namespace submitd::net
