// The pre-login driver; see login_driver.hpp. Each wait has a deadline: the
// idle timeout while waiting for a new command, a command deadline from the
// first byte of a line that trickled bytes do not extend (an attacker could
// otherwise hold a session open a byte at a time, as Postfix's smtpd.c
// notes), and the handshake timeout during TLS negotiation.
#include "login/login_driver.hpp"

#include <asio/async_result.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <random>

#include "core/log.hpp"
#include "smtp/reply.hpp"

namespace submitd::login {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// Asks the authenticator and resumes on this session's event loop.
asio::awaitable<auth::auth_outcome> authenticate(auth::authenticator& authenticator,
                                                 auth::auth_request request) {
    auto ex = co_await asio::this_coro::executor;
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                            void(auth::auth_outcome)>(
        [&authenticator, ex](auto handler, auth::auth_request req) {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            authenticator.authenticate(std::move(req), [h, ex](auth::auth_outcome outcome) {
                asio::post(
                    ex, [h, outcome = std::move(outcome)]() mutable { (*h)(std::move(outcome)); });
            });
        },
        asio::use_awaitable, std::move(request));
}

/// The failure delay plus up to a fifth more at random, so a guesser cannot
/// tell a wrong password by a fixed timing (OpenSMTPD's auth failure pause).
config::milliseconds with_jitter(config::milliseconds d) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    std::uniform_int_distribution<std::int64_t> extra(0, d.count() / 5);
    return d + config::milliseconds(extra(rng));
}

asio::awaitable<void> sleep_for(config::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(use_tuple);
}

asio::awaitable<bool> handshake(net::stream_ptr s, std::shared_ptr<const login_context> ctx,
                                std::string session_id) {
    s->set_timeout(ctx->limits.tls_handshake_timeout);
    auto ec = co_await s->handshake(ctx->tls->context());
    if (ec) {
        core::log_info("tls-failed session={} reason={}", session_id,
                       core::quoted(s->timed_out() ? "handshake timeout" : ec.message()));
        co_return false;
    }
    core::log_info("tls session={} version={} cipher={}", session_id, s->tls_version(),
                   s->tls_cipher());
    co_return true;
}

}  // namespace

asio::awaitable<login_result> run_login(net::stream_ptr stream,
                                        std::shared_ptr<const login_context> ctx,
                                        client_facts facts, bool implicit_tls, bool admitted) {
    net::stream& s = *stream;
    const auto& limits = ctx->limits;
    login_result result;
    std::string session_id = facts.session_id;

    if (implicit_tls && !co_await handshake(stream, ctx, session_id)) {
        result.reason = "tls-failed";
        co_return result;
    }

    if (!admitted) {
        std::string out;
        smtp::append_reply(out, 421, "4.7.0",
                           ctx->settings.hostname + " Too many connections, try again later");
        co_await net::flush(s, out, limits.idle_timeout);
        result.reason = "too-many-connections";
        co_return result;
    }

    login_machine machine(ctx->settings, std::move(facts), s.is_tls());
    // Implicit TLS: the handshake came first; the handoff must carry it.
    if (s.is_tls()) machine.on_tls_established(s.tls_version(), s.tls_cipher());
    machine.greet();
    std::string pending;
    clock::time_point command_start{};
    const net::read_deadlines deadlines{limits.idle_timeout, limits.command_timeout};

    // The machine's last answer: from on_input(), or from on_auth_result().
    action next = action::need_input;
    for (;;) {
        if (next == action::need_input && !pending.empty()) {
            std::size_t consumed = 0;
            bool was_in_command = machine.in_command();
            next = machine.on_input(pending, consumed);
            pending.erase(0, consumed);
            if (!was_in_command && machine.in_command()) command_start = clock::now();
        }
        switch (next) {
            case action::need_input: {
                if (!co_await net::flush(s, machine.output(), limits.idle_timeout)) {
                    result.reason = "write-failed";
                    co_return result;
                }
                auto status = co_await net::read_input(
                    s, pending,
                    machine.in_command() ? net::wait_kind::command_rest : net::wait_kind::command,
                    command_start, deadlines);
                if (status == net::read_status::data) break;
                result.commands = machine.commands();
                if (status == net::read_status::timeout) {
                    machine.on_timeout();
                } else if (status == net::read_status::stop) {
                    machine.on_shutdown();
                } else {
                    result.reason = status == net::read_status::disconnected ? "client-disconnected"
                                                                             : "read-failed";
                    co_return result;
                }
                co_await net::flush(s, machine.output(), limits.idle_timeout);
                result.reason = std::string(machine.close_reason());
                co_return result;
            }
            case action::start_tls:
                if (!co_await net::flush(s, machine.output(), limits.idle_timeout)) {
                    result.reason = "write-failed";
                    co_return result;
                }
                // RFC 3207 section 4: nothing sent before the handshake is
                // executed after it (CVE-2011-0411, CVE-2021-33515).
                pending.clear();
                if (!co_await handshake(stream, ctx, session_id)) {
                    result.reason = "tls-failed";
                    result.commands = machine.commands();
                    co_return result;
                }
                machine.on_tls_established(s.tls_version(), s.tls_cipher());
                next = action::need_input;
                break;
            case action::authenticate: {
                if (!co_await net::flush(s, machine.output(), limits.idle_timeout)) {
                    result.reason = "write-failed";
                    co_return result;
                }
                core::log_debug("auth-check session={}", session_id);
                auto outcome =
                    co_await authenticate(*ctx->authenticator, machine.take_auth_request());
                if (outcome.status == auth::auth_status::failed && outcome.delay.count() > 0) {
                    co_await sleep_for(with_jitter(outcome.delay));
                }
                next = machine.on_auth_result(outcome);
                break;
            }
            case action::handoff:
                if (!co_await net::flush(s, machine.output(), limits.idle_timeout)) {
                    result.reason = "write-failed";
                    co_return result;
                }
                result.commands = machine.commands();
                result.handoff =
                    std::make_unique<ipc::handoff>(machine.take_handoff(std::move(pending)));
                co_return result;
            case action::close:
                co_await net::flush(s, machine.output(), limits.idle_timeout);
                result.reason = std::string(machine.close_reason());
                result.commands = machine.commands();
                co_return result;
        }
    }
}

}  // namespace submitd::login
