// The post-login driver; see submission_driver.hpp.
#include "submission/submission_driver.hpp"

#include <fmt/format.h>

#include <asio/steady_timer.hpp>
#include <chrono>
#include <ctime>

#include "core/log.hpp"
#include "smtp/reply.hpp"
#include "submission/outbox.hpp"
#include "submission/received.hpp"
#include "submission/submission_machine.hpp"

namespace submitd::submission {

namespace {

submission_settings make_settings(const submission_context& ctx, const ipc::handoff& h) {
    submission_settings s;
    auto relay_caps = ctx.caps ? ctx.caps->get() : std::nullopt;
    s.capabilities.hostname = ctx.hostname;
    relay::announce(relay_caps, ctx.limits.max_message_size, s.capabilities);
    // The same list as before login on this connection (DESIGN.md section 3).
    bool tls = !h.tls_version.empty();
    s.capabilities.offer_starttls = ctx.starttls_listener && !tls;
    if (tls || ctx.allow_plaintext_auth) s.capabilities.auth_mechanisms = ctx.mechanisms;
    s.max_command_line = ctx.limits.max_command_line;
    s.max_bad_commands = ctx.limits.max_bad_commands;
    s.max_recipients = ctx.submission.max_recipients;
    s.max_message_size = s.capabilities.max_message_size;
    s.path.whitespace_before_path = ctx.submission.whitespace_before_path;
    s.path.mailbox_for_path = ctx.submission.mailbox_for_path;
    s.bare_lf = ctx.submission.bare_lf == config::bare_lf_mode::normalize
                    ? smtp::bare_lf_policy::normalize
                    : smtp::bare_lf_policy::reject;
    s.bare_cr = ctx.submission.bare_cr == config::bare_cr_mode::reject
                    ? smtp::bare_cr_policy::reject
                    : smtp::bare_cr_policy::normalize;
    s.relay_configured = ctx.relays && !ctx.relays->relays.empty();
    if (relay_caps) s.relay = *relay_caps;
    if (ctx.burl) {
        s.burl_servers = burl_servers(ctx.burl->settings);
        s.capabilities.burl = config::burl_capability(ctx.burl->settings);
    }
    return s;
}

std::unique_ptr<relay_link> make_link(const submission_context& ctx,
                                      const asio::any_io_executor& ex,
                                      const ipc::handoff& session) {
    if (!ctx.relays || ctx.relays->relays.empty()) return nullptr;
    const auto& first = ctx.relays->relays.front();
    if (first.kind == config::relay_kind::maildir) return std::make_unique<outbox>(first.host);
    if (auto parked = relay_connection::take_parked(ctx.relays, session)) return parked;
    return std::make_unique<relay_connection>(ex, ctx.relays, session);
}

/// Closes the session's relay connection once it has been left unused for
/// `idle` while the session waits for its client. One timer for the whole
/// session, armed lazily: a wait only records when it began, and the timer,
/// when it fires early, re-arms for the latest wait's end (no timer
/// operation per client read). The handler holds the shared state, since it
/// may still be queued when the closer goes away.
class idle_closer {
public:
    using clock = std::chrono::steady_clock;

    idle_closer(const asio::any_io_executor& ex, config::milliseconds idle)
        : state_(std::make_shared<state>(ex, idle)) {}
    idle_closer(const idle_closer&) = delete;
    idle_closer& operator=(const idle_closer&) = delete;
    ~idle_closer() { stop(); }

    /// Forgets the link (it is about to go) and stops the timer.
    void stop() {
        state_->link = nullptr;
        state_->timer.cancel();
    }

    /// The session starts waiting for its client; `link` is idle from now.
    void waiting(relay_link* link) {
        state& st = *state_;
        st.link = link;
        st.since = clock::now();
        st.waiting = true;
        if (!st.armed && link != nullptr && link->connected()) arm(state_, st.since + st.idle);
    }
    /// The wait is over: the session may use the link.
    void busy() { state_->waiting = false; }

private:
    struct state {
        state(const asio::any_io_executor& ex, config::milliseconds d) : timer(ex), idle(d) {}
        asio::steady_timer timer;
        config::milliseconds idle;
        relay_link* link = nullptr;
        clock::time_point since{};
        bool waiting = false;
        bool armed = false;
    };

    static void arm(const std::shared_ptr<state>& st, clock::time_point at) {
        st->armed = true;
        st->timer.expires_at(at);
        st->timer.async_wait([st](std::error_code ec) {
            st->armed = false;
            if (ec || st->link == nullptr || !st->waiting || !st->link->connected()) return;
            auto due = st->since + st->idle;
            if (clock::now() < due) return arm(st, due);
            st->link->abort("idle");
        });
    }

    std::shared_ptr<state> state_;
};

std::string reply_text(const std::optional<relay::reply>& r) {
    if (!r) return "none";
    std::string_view fallback = r->code < 300 ? "2.0.0" : r->code < 500 ? "4.0.0" : "5.0.0";
    return fmt::format("{} {} {}", r->code, r->enhanced.empty() ? fallback : r->enhanced,
                       r->text());
}

/// Sends the machine's relay commands and hands the replies back.
asio::awaitable<action> relay_step(submission_machine& machine, relay_link* link,
                                   relay::caps_cache* caps) {
    // The machine's own lines: it does not change them until the replies
    // come back.
    const std::vector<std::string>& lines = machine.relay_out();
    // (No co_await inside ?: : g++ 12 miscompiles temporaries there.)
    std::optional<std::vector<relay::reply>> replies;
    if (link) replies = co_await link->commands(lines);
    if (replies && replies->size() == lines.size()) {
        if (auto learnt = link->learnt(); learnt && caps) {
            caps->set(*learnt);  // keep the shared view fresh
        }
        co_return machine.on_relay_replies(std::move(*replies));
    }
    co_return machine.on_relay_failed(link ? link->failure() : relay_failure::unreachable);
}

/// Fetches the machine's BURL URL.
asio::awaitable<action> fetch_step(submission_machine& machine, imap_fetcher* fetcher) {
    burl_result fetched;
    if (fetcher) fetched = co_await fetcher->fetch(machine.burl_fetch());
    co_return machine.on_burl_fetched(std::move(fetched));
}

/// The Received header of the machine's transaction (empty when switched off).
std::string header_for(const submission_machine& machine, const submission_context& ctx) {
    if (!ctx.submission.received_header) return {};
    const transaction& tx = machine.current();
    received_fields rf;
    rf.session = &machine.session();
    rf.hostname = ctx.hostname;
    rf.transaction_id = tx.id;
    if (tx.recipients.size() == 1) rf.recipient = tx.recipients.front();
    rf.privacy = ctx.submission.received_privacy;
    rf.when = std::time(nullptr);
    return received_header(rf);
}

/// Sends the spooled message with its Received header (`header`: the one
/// already streamed, else made now), and logs it.
asio::awaitable<action> message_step(submission_machine& machine, relay_link* link,
                                     const submission_context& ctx, const spool& message_spool,
                                     std::optional<std::string> header_streamed) {
    using clock = std::chrono::steady_clock;
    const transaction& tx = machine.current();
    const ipc::handoff& session = machine.session();
    auto started = clock::now();
    std::string header = header_streamed ? std::move(*header_streamed) : header_for(machine, ctx);
    std::uint64_t size = header.size() + message_spool.size();
    relay_outcome outcome;
    if (link) outcome = co_await link->message(tx, std::move(header), message_spool);
    if (core::log_enabled(core::log_level::info)) {
        double secs = std::chrono::duration<double>(clock::now() - started).count();
        core::log_info(
            "message session={} tx={} from={} rcpts={} size={} relay={} reply={} "
            "duration={:.3f}",
            session.session_id, tx.id,
            core::quoted(tx.reverse_path.empty() ? "<>" : tx.reverse_path), tx.recipients.size(),
            size, core::quoted(link ? link->address() : ""),
            core::quoted(reply_text(outcome.reply)), secs);
    }
    co_return machine.on_relay_final(outcome);
}

}  // namespace

asio::awaitable<submission_result> run_submission(net::stream_ptr stream,
                                                  std::shared_ptr<const submission_context> ctx,
                                                  std::unique_ptr<ipc::handoff> handoff) {
    using clock = std::chrono::steady_clock;
    net::stream& s = *stream;
    const auto& limits = ctx->limits;
    submission_settings settings = make_settings(*ctx, *handoff);
    std::string pending = std::move(handoff->pending_input);
    // Body bytes of the last read, still in the thread's read buffer (used
    // before the next suspension: see net::read_input).
    std::string_view fresh;
    spool message_spool(ctx->submission.spool_memory, ctx->submission.spool_dir);
    submission_machine machine(settings, std::move(*handoff), message_spool);
    handoff.reset();  // the machine has it; this frame lives as long as the session
    const ipc::handoff& session = machine.session();
    std::unique_ptr<relay_link> link;
    std::unique_ptr<imap_fetcher> fetcher;  // made by the session's first BURL
    submission_result result;
    clock::time_point command_start{};
    const net::read_deadlines deadlines{limits.idle_timeout, limits.command_timeout};
    // A message body must keep up limits.min_data_rate (slowloris in DATA).
    net::body_budget budget(limits.idle_timeout, limits.min_data_rate);
    action next = action::need_input;
    // A message body passed on to the relay while it arrives: its Received
    // header, and the spool's size when it was last passed on.
    std::optional<std::string> streamed_header;
    std::uint64_t streamed_size = 0;
    // A message starts going on once it passes the spool's memory window,
    // and goes on in steps of that much.
    const std::uint64_t stream_step = spool::default_memory_window;
    // A relay connection left open between transactions is closed once it
    // has been idle for relay_client.idle_timeout.
    idle_closer closer(s.socket().get_executor(),
                       ctx->relays ? ctx->relays->client.idle_timeout : limits.idle_timeout);

    for (;;) {
        // Also with nothing pending: a command may be waiting for the relay
        // group that was just answered.
        if (next == action::need_input) {
            std::size_t consumed = 0;
            bool was_in_command = machine.in_command();
            bool was_in_body = machine.in_body();
            if (!fresh.empty()) {
                // Decoded where the read left it; only an unfinished line is kept.
                next = machine.on_input(fresh, consumed);
                pending.assign(fresh.substr(consumed));
                fresh = {};
            } else {
                next = machine.on_input(pending, consumed);
                pending.erase(0, consumed);
            }
            if (!was_in_command && machine.in_command()) command_start = clock::now();
            if (!was_in_body && machine.in_body()) {
                budget.restart();
                streamed_header.reset();
                streamed_size = 0;
                // The relay's DATA round trip overlaps the client's upload.
                if (machine.in_data() && link) {
                    // (Named first: g++ 12 miscompiles co_await on a virtual call's result.)
                    auto begun = link->begin_data();
                    co_await std::move(begun);
                }
            }
            // A big message goes on to the relay while it arrives (the spool
            // keeps it all, for a retry on another connection); one that will
            // be refused here (too big, bare CR or LF) does not.
            if (link && machine.in_data() && machine.body_clean() &&
                message_spool.size() >= streamed_size + stream_step) {
                if (!streamed_header) streamed_header = header_for(machine, *ctx);
                streamed_size = message_spool.size();
                auto more = link->stream(*streamed_header, message_spool);
                co_await std::move(more);
            }
        }
        if (next == action::relay_commands || next == action::fetch_url ||
            next == action::relay_message) {
            // Replies the client is owed already (a pipelined MAIL's 250)
            // wait in the machine's output for the relay's, and go out with
            // them in one write when the session next waits for its client
            // (RFC 2920 asks only that nothing be held then).
            // The relay connection is made (or taken from those kept between
            // sessions) when a transaction first needs it, so an idle session
            // holds none.
            if (!link && next != action::fetch_url) {
                link = make_link(*ctx, s.socket().get_executor(), session);
            }
            if (!fetcher && next == action::fetch_url && ctx->burl) {
                fetcher =
                    std::make_unique<imap_fetcher>(s.socket().get_executor(), ctx->burl, session);
            }
            // Each step is a coroutine of its own: its locals live in its
            // frame only while it runs, not in this one for the whole session.
            if (next == action::relay_commands) {
                next = co_await relay_step(machine, link.get(), ctx->caps.get());
            } else if (next == action::fetch_url) {
                next = co_await fetch_step(machine, fetcher.get());
            } else {
                next = co_await message_step(machine, link.get(), *ctx, message_spool,
                                             std::move(streamed_header));
                streamed_header.reset();
            }
            continue;
        }
        if (next == action::close) {
            co_await net::flush(s, machine.output(), limits.idle_timeout);
            result.reason = std::string(machine.close_reason());
            break;
        }
        if (!co_await net::flush(s, machine.output(), limits.idle_timeout)) {
            result.reason = "write-failed";
            break;
        }
        closer.waiting(link.get());
        net::wait_kind wait = machine.in_body()      ? net::wait_kind::body
                              : machine.in_command() ? net::wait_kind::command_rest
                                                     : net::wait_kind::command;
        auto status =
            co_await net::read_input(s, pending, wait, command_start, deadlines, &budget, &fresh);
        closer.busy();
        if (status == net::read_status::data) continue;
        if (status == net::read_status::too_slow) {
            // Answered here: the machine's timeout reply would say "idle".
            core::log_info("data-rate-too-low session={} bytes={} duration={:.3f} min_data_rate={}",
                           session.session_id, budget.bytes(),
                           std::chrono::duration<double>(budget.waited()).count(),
                           budget.min_rate());
            std::string out;
            smtp::append_reply(out, 421, "4.4.2",
                               ctx->hostname + " Data rate too low, closing connection");
            co_await net::flush(s, out, limits.idle_timeout);
            result.reason = "data-rate-too-low";
            break;
        }
        if (status == net::read_status::timeout) {
            machine.on_timeout();
        } else if (status == net::read_status::stop) {
            machine.on_shutdown();
        } else {
            result.reason =
                status == net::read_status::disconnected ? "client-disconnected" : "read-failed";
            break;
        }
        co_await net::flush(s, machine.output(), limits.idle_timeout);
        result.reason = std::string(machine.close_reason());
        break;
    }
    // A transaction the client did not finish never reaches the relay's end
    // of data: closing the relay connection aborts it there.
    closer.stop();
    if (link) {
        relay_link* l = link.get();
        auto releasing = l->release(std::move(link));
        co_await std::move(releasing);
    }
    if (fetcher) co_await fetcher->close();
    result.commands = machine.commands();
    co_return result;
}

}  // namespace submitd::submission
