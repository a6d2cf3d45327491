// One client SMTP session; see connection.hpp.
#include "loadgen/connection.hpp"

#include <openssl/ssl.h>

#include <fmt/format.h>
#include <algorithm>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstring>

#include "loadgen/reply_parser.hpp"

namespace submitd::bench {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Big enough that a 10 MiB body costs few system calls, small enough that
// each write re-arms the time limit often on a slow link.
constexpr std::size_t body_chunk = 256 * 1024;

outcome failed(const char* stage, std::string text) {
    return outcome{false, fmt::format("{}: {}", stage, text)};
}

}  // namespace

connection::connection(asio::io_context& io, const setup& s, const std::uint64_t& tick,
                       std::size_t buffer_size)
    : setup_(s),
      tick_(tick),
      socket_(io),
      buf_(new char[buffer_size]),
      capacity_(buffer_size),
      timeout_ticks_(s.op_timeout_ticks) {}

void connection::close() {
    std::error_code ignored;
    tls_.reset();
    socket_.close(ignored);
    head_ = tail_ = 0;
    armed_ = false;
}

void connection::check_deadline(std::uint64_t now_tick) {
    if (!armed_ || now_tick - armed_at_ < timeout_ticks_) return;
    armed_ = false;
    timed_out_ = true;
    std::error_code ignored;
    socket_.cancel(ignored);
}

void connection::request_quit() {
    quitting_ = true;
    std::error_code ignored;
    socket_.cancel(ignored);
}

outcome connection::failure(const char* stage, std::error_code ec) const {
    if (timed_out_) return failed(stage, "timeout");
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        return failed(stage, "connection closed by the server");
    return failed(stage, ec.message());
}

asio::awaitable<std::error_code> connection::connect() {
    std::error_code ec;
    socket_.open(setup_.endpoint.protocol(), ec);
    if (ec) co_return ec;
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    if (ec) co_return ec;
    arm();
    auto [cec] = co_await socket_.async_connect(setup_.endpoint, use_tuple);
    co_return cec;
}

asio::awaitable<std::error_code> connection::handshake() {
    tls_.emplace(socket_, *setup_.tls);
    if (!setup_.opts.server_name.empty())
        SSL_set_tlsext_host_name(tls_->native_handle(), setup_.opts.server_name.c_str());
    if (!setup_.verify_name.empty())
        tls_->set_verify_callback(asio::ssl::host_name_verification(setup_.verify_name));
    arm();
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
    co_return ec;
}

asio::awaitable<std::error_code> connection::write(asio::const_buffer data) {
    arm();
    std::error_code ec;
    if (tls_) {
        std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, data, use_tuple);
    } else {
        std::tie(ec, std::ignore) = co_await asio::async_write(socket_, data, use_tuple);
    }
    co_return ec;
}

asio::awaitable<std::error_code> connection::write_body() {
    const std::string& body = setup_.bytes.body;
    for (std::size_t off = 0; off < body.size(); off += body_chunk) {
        std::size_t n = std::min(body_chunk, body.size() - off);
        auto ec = co_await write(asio::buffer(body.data() + off, n));
        if (ec) co_return ec;
    }
    co_return std::error_code{};
}

asio::awaitable<std::error_code> connection::read_more() {
    arm();
    auto space = asio::buffer(buf_.get() + tail_, capacity_ - tail_);
    std::error_code ec;
    std::size_t n = 0;
    if (tls_) {
        std::tie(ec, n) = co_await tls_->async_read_some(space, use_tuple);
    } else {
        std::tie(ec, n) = co_await socket_.async_read_some(space, use_tuple);
    }
    tail_ += n;
    co_return ec;
}

asio::awaitable<outcome> connection::expect(int code, const char* stage) {
    for (;;) {
        std::string_view avail(buf_.get() + head_, tail_ - head_);
        reply r = parse_reply(avail);
        if (r.status == reply_status::complete) {
            last_reply_ = avail.substr(0, r.size);
            head_ += r.size;
            if (head_ == tail_) head_ = tail_ = 0;
            if (r.code == code) co_return outcome{};
            co_return failed(stage, final_line(last_reply_, r));
        }
        if (r.status == reply_status::malformed)
            co_return failed(stage, "malformed reply: " + final_line(avail, r));
        if (tail_ == capacity_) {
            if (head_ == 0) co_return failed(stage, "reply too long");
            std::memmove(buf_.get(), buf_.get() + head_, tail_ - head_);
            tail_ -= head_;
            head_ = 0;
        }
        auto ec = co_await read_more();
        if (ec) co_return failure(stage, ec);
    }
}

asio::awaitable<outcome> connection::open() {
    close();
    timeout_ticks_ = setup_.op_timeout_ticks;
    timed_out_ = false;
    quitting_ = false;
    const script& s = setup_.bytes;
    const tls_mode mode = setup_.opts.tls;

    auto ec = co_await connect();
    if (ec) co_return failure("connect", ec);
    if (mode == tls_mode::implicit) {
        ec = co_await handshake();
        if (ec) co_return failure("TLS handshake", ec);
    }
    auto r = co_await expect(220, "greeting");
    if (!r.ok) co_return r;
    ec = co_await write(asio::buffer(s.ehlo));
    if (ec) co_return failure("EHLO", ec);
    r = co_await expect(250, "EHLO");
    if (!r.ok) co_return r;

    if (mode == tls_mode::starttls) {
        ec = co_await write(asio::buffer(s.starttls));
        if (ec) co_return failure("STARTTLS", ec);
        r = co_await expect(220, "STARTTLS");
        if (!r.ok) co_return r;
        // RFC 3207 section 5: discard anything that came before the handshake.
        head_ = tail_ = 0;
        ec = co_await handshake();
        if (ec) co_return failure("TLS handshake", ec);
        ec = co_await write(asio::buffer(s.ehlo));
        if (ec) co_return failure("EHLO", ec);
        r = co_await expect(250, "EHLO");
        if (!r.ok) co_return r;
    }
    // Measuring unpipelined dialogue while claiming pipelining would mislead.
    if (setup_.opts.pipelining && !has_ehlo_keyword(last_reply_, "PIPELINING"))
        co_return failed("EHLO", "PIPELINING not advertised");

    if (!s.auth.empty()) {
        ec = co_await write(asio::buffer(s.auth));
        if (ec) co_return failure("AUTH", ec);
        r = co_await expect(235, "AUTH");
        if (!r.ok) co_return r;
    }
    co_return outcome{};
}

asio::awaitable<outcome> connection::send_message() {
    const script& s = setup_.bytes;
    const std::size_t count = s.command_ends.size();  // MAIL, RCPT..., DATA
    auto stage_of = [count](std::size_t i) {
        return i == 0 ? "MAIL" : i + 1 == count ? "DATA" : "RCPT";
    };
    if (setup_.opts.pipelining) {
        // RFC 2920 section 3.1: DATA ends the group; its 354 is awaited
        // before the message is sent.
        auto ec = co_await write(asio::buffer(s.envelope));
        if (ec) co_return failure("MAIL", ec);
        for (std::size_t i = 0; i < count; ++i) {
            auto r = co_await expect(i + 1 == count ? 354 : 250, stage_of(i));
            if (!r.ok) co_return r;
        }
    } else {
        std::size_t start = 0;
        for (std::size_t i = 0; i < count; ++i) {
            auto ec =
                co_await write(asio::buffer(s.envelope.data() + start, s.command_ends[i] - start));
            if (ec) co_return failure(stage_of(i), ec);
            auto r = co_await expect(i + 1 == count ? 354 : 250, stage_of(i));
            if (!r.ok) co_return r;
            start = s.command_ends[i];
        }
    }
    auto ec = co_await write_body();
    if (ec) co_return failure("message", ec);
    auto r = co_await expect(250, "end of data");
    co_return r;
}

asio::awaitable<void> connection::quit() {
    if (!socket_.is_open()) co_return;
    timeout_ticks_ = setup_.quit_timeout_ticks;
    timed_out_ = false;
    auto ec = co_await write(asio::buffer(setup_.bytes.quit));
    if (!ec) {
        // Any reply, or none, will do (the 221 is not checked).
        auto r = co_await expect(221, "QUIT");
        static_cast<void>(r);
    }
    close();
}

asio::awaitable<outcome> connection::hold() {
    armed_ = false;  // no time limit while held
    while (!quitting_) {
        if (tail_ == capacity_) head_ = tail_ = 0;
        auto space = asio::buffer(buf_.get() + tail_, capacity_ - tail_);
        std::error_code ec;
        std::size_t n = 0;
        if (tls_) {
            std::tie(ec, n) = co_await tls_->async_read_some(space, use_tuple);
        } else {
            std::tie(ec, n) = co_await socket_.async_read_some(space, use_tuple);
        }
        tail_ += n;
        if (quitting_) break;
        if (ec) {
            auto o = failure("idle", ec);
            close();
            co_return o;
        }
        std::string_view avail(buf_.get() + head_, tail_ - head_);
        reply r = parse_reply(avail);
        if (r.status != reply_status::need_more) {
            auto o = failed("idle", "server said " + final_line(avail, r));
            close();
            co_return o;
        }
    }
    co_await quit();
    co_return outcome{};
}

}  // namespace submitd::bench
