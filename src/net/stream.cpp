// Client connection with TLS upgrade and a deadline; see stream.hpp.
#include "net/stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <memory>

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

stream::stream(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {
    // Reads are non-blocking attempts (read_append); a failure here shows
    // there as a read error.
    std::error_code ignored;
    socket_.non_blocking(true, ignored);
}

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

namespace {

constexpr std::size_t scratch_size = 65536;

/// The thread's read buffer: filled by a non-blocking read and copied out
/// before the coroutine can suspend, so sessions of one thread share it.
char* scratch() {
    thread_local std::unique_ptr<char[]> buf(new char[scratch_size]);
    return buf.get();
}

}  // namespace

asio::awaitable<std::error_code> stream::read_append(std::string& out, std::size_t max,
                                                     bool wait_first, std::string_view* view) {
    max = std::min(max, scratch_size);
    std::error_code ec;
    if (wait_first) {
        ec = co_await wait_readable();
        if (ec) co_return ec;
    }
    for (;;) {
        char* buf = scratch();
        std::size_t n = 0;
        if (!ssl_) {
            n = socket_.read_some(asio::buffer(buf, max), ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
                auto [wec] = co_await socket_.async_wait(tcp::socket::wait_read, use_tuple);
                if (wec) co_return wec;
                continue;
            }
        } else {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read_ex(ssl_.get(), buf, max, &n);
            if (r != 1) {
                int err = SSL_get_error(ssl_.get(), r);
                ec = co_await wait_for_tls(err);
                if (ec) co_return ec;
                continue;
            }
        }
        if (ec) co_return ec;
        if (view != nullptr && out.empty()) {
            *view = std::string_view(buf, n);
        } else {
            out.append(buf, n);
        }
        bytes_in_ += n;
        last_read_full_ = n == max;
        co_return std::error_code{};
    }
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
    ssl_.reset(SSL_new(ctx.native_handle()));
    if (!ssl_ || SSL_set_fd(ssl_.get(), static_cast<int>(socket_.native_handle())) != 1) {
        co_return tls_error(SSL_ERROR_SSL, 0);
    }
    // Partial writes: write_all() goes on from where a full socket stopped it.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Read what has arrived in one read(2) rather than a record header and
    // then its body in two (half the reads per session); what is left over
    // is still seen by SSL_has_pending().
    SSL_set_read_ahead(ssl_.get(), 1);
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

void body_budget::restart() {
    left_ = full_;
    bytes_ = 0;
    waited_ = {};
}

void body_budget::on_read(clock::duration waited, std::size_t bytes) {
    bytes_ += bytes;
    waited_ += waited;
    if (min_rate_ == 0) return;
    // Postfix's smtp_stream.c: the deadline is decremented by the time the
    // read took and incremented by N / min_data_rate, never beyond the time
    // limit (a fast client cannot bank time for a later stall).
    auto earned = std::chrono::duration_cast<clock::duration>(
        std::chrono::nanoseconds(static_cast<std::int64_t>(bytes * 1'000'000'000ull / min_rate_)));
    left_ = std::clamp(left_ - waited + earned, clock::duration::zero(), full_);
}

asio::awaitable<read_status> read_input(stream& s, std::string& pending, wait_kind kind,
                                        stream::clock::time_point command_start,
                                        read_deadlines deadlines, body_budget* budget,
                                        std::string_view* fresh) {
    // Commands are short; a message body comes in large reads (fewer system
    // calls, decoder passes and spool writes per megabyte).
    const std::size_t chunk = kind == wait_kind::body ? 65536 : 4096;
    bool between = kind == wait_kind::command;
    if (between && s.stopping()) co_return read_status::stop;
    if (kind != wait_kind::body) budget = nullptr;
    const bool rate_limited = budget != nullptr && budget->is_short();
    if (kind == wait_kind::command_rest) {
        s.set_deadline(command_start + deadlines.command);
    } else if (budget != nullptr) {
        s.set_timeout(budget->left());
    } else {
        s.set_timeout(deadlines.idle);
    }
    s.set_idle(between);
    // An idle session holds no read buffer: it waits for the next command
    // with none. Within a command or a message, a read that filled its
    // chunk is likely to find more at once: read before waiting then.
    bool idle = between && pending.empty();
    if (idle) std::string().swap(pending);
    bool wait_first = idle || !s.last_read_full();
    const auto started = stream::clock::now();
    const std::size_t before = pending.size();
    std::string_view direct;
    if (kind != wait_kind::body) fresh = nullptr;
    std::error_code ec =
        co_await s.read_append(pending, chunk, wait_first, fresh ? &direct : nullptr);
    s.set_idle(false);
    if (fresh != nullptr) *fresh = direct;
    if (budget != nullptr) {
        budget->on_read(stream::clock::now() - started, pending.size() - before + direct.size());
    }
    if (!ec) co_return read_status::data;
    if (s.timed_out()) co_return rate_limited ? read_status::too_slow : read_status::timeout;
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
