// Relay capability prober; see prober.hpp.
#include "server/prober.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "core/log.hpp"

namespace submitd::server {

namespace {

asio::awaitable<void> probe_once(std::shared_ptr<const submission::relay_context> ctx,
                                 std::shared_ptr<relay::caps_cache> cache) {
    ipc::handoff none;
    none.session_id = "probe";
    submission::relay_connection conn(co_await asio::this_coro::executor, ctx, none);
    // An empty group only connects: the handshake is what we want.
    std::vector<std::string> noop{std::string("NOOP")};
    auto replies = co_await conn.commands(noop);
    auto caps = conn.learnt();
    if (replies && caps) {
        cache->set(*caps);
        core::log_info(
            "relay-capabilities relay={} pipelining={} chunking={} 8bitmime={} dsn={} "
            "smtputf8={} size={} auth={} xclient={}",
            core::quoted(conn.address()), caps->pipelining, caps->chunking, caps->eightbitmime,
            caps->dsn, caps->smtputf8, caps->size.value_or(0), !caps->auth_mechanisms.empty(),
            caps->xclient);
    }
    co_await conn.close();
}

}  // namespace

prober::prober(std::shared_ptr<relay::caps_cache> cache)
    : cache_(std::move(cache)), thread_([this] { run(); }) {}

prober::~prober() {
    stop();
}

void prober::set_relays(std::shared_ptr<const submission::relay_context> ctx) {
    std::lock_guard lock(mutex_);
    ctx_ = std::move(ctx);
    changed_ = true;
    wake_.notify_all();
}

void prober::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

void prober::probe(const std::shared_ptr<const submission::relay_context>& ctx) {
    if (!ctx || ctx->relays.empty()) return;
    if (ctx->relays.front().kind == config::relay_kind::maildir) {
        relay::capabilities local;  // what the outbox can store
        local.pipelining = true;
        local.eightbitmime = true;
        local.smtputf8 = true;
        cache_->set(local);
        return;
    }
    asio::io_context io(1);
    asio::co_spawn(io, probe_once(ctx, cache_), asio::detached);
    io.run();
}

void prober::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || changed_; });
        while (!stopping_) {
            changed_ = false;
            auto ctx = ctx_;
            lock.unlock();
            probe(ctx);
            lock.lock();
            auto interval = ctx ? ctx->client.capability_refresh : std::chrono::minutes(5);
            if (wake_.wait_for(lock, interval, [this] { return stopping_ || changed_; }) &&
                stopping_) {
                break;
            }
        }
        if (stopping_) return;
    }
}

}  // namespace submitd::server
