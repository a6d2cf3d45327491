// Worker event loop, accept loops and the per-connection coroutine; see
// worker.hpp. Accept failures such as EMFILE are logged and accepting pauses
// briefly instead of spinning (Asio's throttling_proxy example).
#include "server/worker.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <random>

#include "core/log.hpp"

namespace submitd::server {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
    auto addr = ep.address();
    if (addr.is_v6()) return fmt::format("[{}]:{}", addr.to_string(), ep.port());
    return fmt::format("{}:{}", addr.to_string(), ep.port());
}

/// Closes the stream and logs the disconnect however the session ends.
struct session_guard {
    net::stream_ptr stream;
    std::unordered_set<net::stream*>& live;
    std::atomic<std::size_t>& count;
    std::string id;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::string reason = "internal-error";
    unsigned commands = 0;

    ~session_guard() {
        stream->close();
        live.erase(stream.get());
        --count;
        double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        core::log_info(
            "disconnect session={} reason={} duration={:.3f} bytes_in={} bytes_out={} "
            "commands={}",
            id, reason, secs, stream->bytes_in(), stream->bytes_out(), commands);
    }
};

}  // namespace

worker::worker(unsigned index, runtime_ptr rt, std::shared_ptr<net::conn_limiter> limiter)
    : index_(index), runtime_(std::move(rt)), limiter_(std::move(limiter)) {
    std::random_device rd;
    id_prefix_ = rd();
}

std::uint16_t worker::bind(std::size_t i, std::uint16_t port) {
    const auto& l = runtime_->listeners.at(i).listener;
    asio::ip::tcp::endpoint ep(asio::ip::make_address(l.host), port);
    asio::ip::tcp::acceptor a(io_);
    a.open(ep.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    a.set_option(reuse_port(true));
    if (ep.address().is_v6()) a.set_option(asio::ip::v6_only(true));
    a.bind(ep);
    a.listen(asio::socket_base::max_listen_connections);
    std::uint16_t bound = a.local_endpoint().port();
    acceptors_.push_back(std::move(a));  // listener i is acceptors_[i]: bound in order
    return bound;
}

void worker::start() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
        asio::co_spawn(io_, accept_loop(i), asio::detached);
    }
    thread_ = std::thread([this] {
        auto guard = asio::make_work_guard(io_);
        io_.run();
        // Relay connections kept between sessions go before the event loop.
        submission::relay_connection::close_parked();
    });
}

void worker::join() {
    if (thread_.joinable()) thread_.join();
}

void worker::set_runtime(runtime_ptr rt) {
    asio::post(io_, [this, rt = std::move(rt)]() mutable { runtime_ = std::move(rt); });
}

void worker::stop_accepting() {
    asio::post(io_, [this] {
        stopping_ = true;
        for (auto& a : acceptors_) {
            std::error_code ignored;
            a.close(ignored);
        }
        for (net::stream* s : live_)
            s->request_stop();
    });
}

void worker::stop() {
    asio::post(io_, [this] {
        for (net::stream* s : live_)
            s->close();
        io_.stop();
    });
}

std::string worker::next_session_id() {
    return fmt::format("{:08x}{:02x}{:06x}", id_prefix_, index_ & 0xff, ++id_counter_ & 0xffffff);
}

asio::awaitable<void> worker::accept_loop(std::size_t i) {
    asio::steady_timer pause(io_);
    while (!stopping_) {
        auto [ec, socket] = co_await acceptors_[i].async_accept(use_tuple);
        if (stopping_) co_return;
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            core::log_warn("accept-failed listener={} reason={}",
                           runtime_->listeners[i].listener.name, core::quoted(ec.message()));
            // Out of descriptors or memory: pause instead of spinning.
            pause.expires_after(std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        asio::co_spawn(io_, run_connection(i, std::move(socket)), [](const std::exception_ptr& e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                core::log_error("session-exception reason={}", core::quoted(x.what()));
            }
        });
    }
}

asio::awaitable<void> worker::run_connection(std::size_t i, asio::ip::tcp::socket socket) {
    runtime_ptr rt = runtime_;
    const listener_runtime& lr = rt->listeners.at(i);
    const auto& limits = rt->settings->limits;

    std::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    auto local = socket.local_endpoint(ec);
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    auto s = std::make_shared<net::stream>(std::move(socket));
    s->start();
    live_.insert(s.get());
    ++session_count_;
    sessions_started_.fetch_add(1, std::memory_order_relaxed);
    if (stopping_) s->request_stop();

    login::client_facts facts;
    facts.session_id = next_session_id();
    facts.listener = lr.listener.name;
    facts.remote_ip = remote.address().to_string();
    facts.remote_port = remote.port();
    facts.local_ip = local.address().to_string();
    facts.local_port = local.port();
    session_guard guard{s, live_, session_count_, facts.session_id};
    if (core::log_enabled(core::log_level::info)) {
        core::log_info("connect session={} remote={} local={} listener={}", facts.session_id,
                       endpoint_text(remote), endpoint_text(local), core::quoted(lr.listener.name));
    }

    auto token =
        limiter_->acquire(facts.remote_ip, limits.max_connections, limits.max_connections_per_ip);
    bool implicit = lr.listener.tls == config::tls_mode::implicit;
    auto result = co_await login::run_login(s, lr.login, std::move(facts), implicit,
                                            static_cast<bool>(token));
    guard.reason = result.reason;
    guard.commands = result.commands;
    if (result.handoff) {
        auto sub = co_await submission::run_submission(s, lr.submission, std::move(result.handoff));
        guard.reason = sub.reason;
        guard.commands += sub.commands;
    }
}

}  // namespace submitd::server
