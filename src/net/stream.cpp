// Client connection with TLS upgrade and a deadline; see stream.hpp.
#include "net/stream.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace submitd::net {

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
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

asio::awaitable<std::pair<std::error_code, std::size_t>> stream::read_some(
    asio::mutable_buffer buf) {
    std::error_code ec;
    std::size_t n = 0;
    if (tls_) {
        std::tie(ec, n) = co_await tls_->async_read_some(buf, use_tuple);
    } else {
        std::tie(ec, n) = co_await socket_.async_read_some(buf, use_tuple);
    }
    bytes_in_ += n;
    co_return std::pair{ec, n};
}

asio::awaitable<std::error_code> stream::write_all(std::string_view data) {
    std::error_code ec;
    std::size_t n = 0;
    if (tls_) {
        std::tie(ec, n) = co_await asio::async_write(*tls_, asio::buffer(data), use_tuple);
    } else {
        std::tie(ec, n) = co_await asio::async_write(socket_, asio::buffer(data), use_tuple);
    }
    bytes_out_ += n;
    co_return ec;
}

asio::awaitable<std::error_code> stream::handshake(asio::ssl::context& ctx) {
    tls_.emplace(socket_, ctx);
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_tuple);
    co_return ec;
}

std::string stream::tls_version() const {
    if (!tls_) return {};
    return SSL_get_version(const_cast<asio::ssl::stream<tcp::socket&>&>(*tls_).native_handle());
}

std::string stream::tls_cipher() const {
    if (!tls_) return {};
    const char* name =
        SSL_get_cipher_name(const_cast<asio::ssl::stream<tcp::socket&>&>(*tls_).native_handle());
    return name != nullptr ? name : "";
}

bool is_disconnect(const std::error_code& ec) {
    return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

asio::awaitable<read_status> read_input(stream& s, std::string& pending, wait_kind kind,
                                        stream::clock::time_point command_start,
                                        read_deadlines deadlines) {
    constexpr std::size_t chunk = 4096;
    bool between = kind == wait_kind::command;
    if (between && s.stopping()) co_return read_status::stop;
    if (kind == wait_kind::command_rest) {
        s.set_deadline(command_start + deadlines.command);
    } else {
        s.set_timeout(deadlines.idle);
    }
    s.set_idle(between);
    std::size_t old = pending.size();
    pending.resize(old + chunk);
    auto [ec, n] = co_await s.read_some(asio::buffer(pending.data() + old, chunk));
    pending.resize(old + n);
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
