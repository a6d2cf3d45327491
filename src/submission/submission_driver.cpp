// The post-login driver; see submission_driver.hpp.
#include "submission/submission_driver.hpp"

#include "submission/submission_machine.hpp"

namespace submitd::submission {

namespace {

submission_settings make_settings(const submission_context& ctx, const ipc::handoff& h) {
    submission_settings s;
    s.capabilities.hostname = ctx.hostname;
    s.capabilities.max_message_size = ctx.limits.max_message_size;
    // The same list as before login on this connection (DESIGN.md section 3).
    bool tls = !h.tls_version.empty();
    s.capabilities.offer_starttls = ctx.starttls_listener && !tls;
    if (tls || ctx.allow_plaintext_auth) s.capabilities.auth_mechanisms = ctx.mechanisms;
    s.max_command_line = ctx.limits.max_command_line;
    s.max_bad_commands = ctx.limits.max_bad_commands;
    return s;
}

}  // namespace

asio::awaitable<submission_result> run_submission(net::stream_ptr stream,
                                                  std::shared_ptr<const submission_context> ctx,
                                                  ipc::handoff handoff) {
    using clock = std::chrono::steady_clock;
    net::stream& s = *stream;
    const auto& limits = ctx->limits;
    submission_settings settings = make_settings(*ctx, handoff);
    std::string pending = std::move(handoff.pending_input);
    submission_machine machine(settings, std::move(handoff));
    submission_result result;
    clock::time_point command_start{};
    const net::read_deadlines deadlines{limits.idle_timeout, limits.command_timeout};

    for (;;) {
        action next = action::need_input;
        if (!pending.empty()) {
            std::size_t consumed = 0;
            bool was_in_command = machine.in_command();
            next = machine.on_input(pending, consumed);
            pending.erase(0, consumed);
            if (!was_in_command && machine.in_command()) command_start = clock::now();
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
        auto status =
            co_await net::read_input(s, pending, machine.in_command(), command_start, deadlines);
        if (status == net::read_status::data) continue;
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
    result.commands = machine.commands();
    co_return result;
}

}  // namespace submitd::submission
