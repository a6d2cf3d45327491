// Process start-up, privilege drop, signals, reload and shutdown; see
// server.hpp. Signals are blocked in every thread and taken synchronously by
// the main thread with sigtimedwait(), so no handler runs inside an event loop.
//
// Between signals the main thread also hands freed heap memory back to the
// kernel (malloc_trim) once new sessions have stopped coming for a quarter
// of a second (at most once a second), or every ten seconds while they keep
// coming: a burst of TLS handshakes leaves megabytes of freed buffers in the
// allocator's arenas, which the sessions left holding would otherwise keep
// for good.
#include "server/server.hpp"

#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "auth/passdb_authenticator.hpp"
#include "config/settings.hpp"
#include "core/log.hpp"
#include "net/conn_limiter.hpp"
#include "server/prober.hpp"
#include "server/runtime.hpp"
#include "server/worker.hpp"

namespace submitd::server {

namespace {

void apply_log_level(const config::settings& s) {
    core::log_level level = core::log_level::info;
    core::parse_log_level(s.server.log_level, level);
    core::set_log_level(level);
}

/// setgroups, setgid, setuid; @throws std::runtime_error.
void drop_privileges(const config::server_settings& s) {
    if (s.user.empty()) {
        if (geteuid() == 0) {
            core::log_warn("privileges kept: running as root because server.user is empty");
        }
        return;
    }
    errno = 0;
    const passwd* pw = getpwnam(s.user.c_str());
    if (pw == nullptr) throw std::runtime_error("server.user: no such user \"" + s.user + "\"");
    gid_t gid = pw->pw_gid;
    if (!s.group.empty()) {
        const group* gr = getgrnam(s.group.c_str());
        if (gr == nullptr)
            throw std::runtime_error("server.group: no such group \"" + s.group + "\"");
        gid = gr->gr_gid;
    }
    if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
        throw std::system_error(errno, std::generic_category(), "dropping privileges");
    }
    if (setuid(0) == 0 && pw->pw_uid != 0)
        throw std::runtime_error("could regain root after dropping privileges");
    core::log_info("privileges-dropped user={} uid={} gid={}", s.user, pw->pw_uid, gid);
}

bool same_listeners(const config::settings& a, const config::settings& b) {
    if (a.listeners.size() != b.listeners.size()) return false;
    for (std::size_t i = 0; i < a.listeners.size(); ++i) {
        const auto& x = a.listeners[i];
        const auto& y = b.listeners[i];
        if (x.name != y.name || x.host != y.host || x.port != y.port || x.tls != y.tls)
            return false;
    }
    return true;
}

}  // namespace

int run_server(const std::string& config_path) {
    sigset_t signals;
    sigemptyset(&signals);
    for (int sig : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&signals, sig);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    config::settings_ptr settings;
    runtime_ptr rt;
    // Outlives every session's use: destroyed (its queue drained) only after
    // the event loops have stopped, and before they are destroyed, so no
    // completion is ever posted to a destroyed loop.
    std::unique_ptr<auth::passdb_authenticator> authenticator;
    auto relay_caps = std::make_shared<relay::caps_cache>();
    try {
        settings = config::load_settings(config_path);
        apply_log_level(*settings);
        authenticator = std::make_unique<auth::passdb_authenticator>(
            nullptr, penalty_from(settings->auth), settings->auth.hash_workers,
            settings->auth.max_queued);
        rt = build_runtime(settings, authenticator.get(), relay_caps);
        authenticator->set_passdb(rt->passdb);
    } catch (const std::exception& e) {
        core::log_error("startup-failed reason={}", core::quoted(e.what(), 1000));
        return 1;
    }

    auto limiter = std::make_shared<net::conn_limiter>();
    std::vector<std::unique_ptr<worker>> workers;
    try {
        for (unsigned w = 0; w < settings->server.workers; ++w) {
            workers.push_back(std::make_unique<worker>(w, rt, limiter));
        }
        for (std::size_t i = 0; i < rt->listeners.size(); ++i) {
            std::uint16_t port = rt->listeners[i].listener.port;
            for (auto& w : workers)
                port = w->bind(i, port);
            const auto& l = rt->listeners[i].listener;
            bool v6 = l.host.find(':') != std::string::npos;
            core::log_info("listening listener={} address={}{}{}:{} tls={}", core::quoted(l.name),
                           v6 ? "[" : "", l.host, v6 ? "]" : "", port,
                           l.tls == config::tls_mode::starttls ? "starttls" : "implicit");
        }
        drop_privileges(settings->server);
    } catch (const std::exception& e) {
        core::log_error("startup-failed reason={}", core::quoted(e.what(), 1000));
        return 1;
    }

    if (settings->relays.empty()) {
        core::log_warn(
            "no-relay reason=\"no [[relay]] configured: mail is refused with 451 4.3.0\"");
    }
    prober relay_prober(relay_caps);
    relay_prober.set_relays(rt->relays);
    for (auto& w : workers)
        w->start();
    core::log_info("ready workers={} pid={}", workers.size(), getpid());

    std::uint64_t started_at_trim = 0;
    std::uint64_t started_at_poll = 0;
    auto last_trim = std::chrono::steady_clock::now();
    auto trim_heap = [&] {
        std::uint64_t started = 0;
        for (auto& w : workers)
            started += w->sessions_started();
        bool quiet = started == started_at_poll;
        started_at_poll = started;
        if (started == started_at_trim) return;  // nothing new was freed
        auto t0 = std::chrono::steady_clock::now();
        auto since = t0 - last_trim;
        if (since < (quiet ? std::chrono::seconds(1) : std::chrono::seconds(10))) return;
        started_at_trim = started;
        last_trim = t0;
        malloc_trim(0);
        core::log_debug(
            "heap-trim duration={:.3f}",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    };
    for (;;) {
        siginfo_t info{};
        const timespec trim_interval{0, 250'000'000};
        int sig = sigtimedwait(&signals, &info, &trim_interval);
        if (sig < 0) {
            if (errno == EAGAIN) trim_heap();
            continue;
        }
        if (sig == SIGHUP) {
            try {
                auto next = config::load_settings(config_path);
                if (!same_listeners(*settings, *next)) {
                    throw std::runtime_error("listeners changed: restart submitd to apply that");
                }
                if (next->server.workers != settings->server.workers) {
                    core::log_warn("reload-note reason=\"server.workers takes effect on restart\"");
                }
                auto next_rt = build_runtime(next, authenticator.get(), relay_caps);
                authenticator->set_passdb(next_rt->passdb);
                authenticator->set_penalty_settings(penalty_from(next->auth));
                for (auto& w : workers)
                    w->set_runtime(next_rt);
                relay_prober.set_relays(next_rt->relays);
                apply_log_level(*next);
                settings = next;
                rt = next_rt;
                core::log_info("reload ok");
            } catch (const std::exception& e) {
                core::log_error("reload failed reason={}", core::quoted(e.what(), 1000));
            }
            continue;
        }
        break;  // SIGTERM, SIGINT
    }

    core::log_info("shutdown begin grace={:.1f}",
                   static_cast<double>(settings->server.shutdown_grace.count()) / 1000.0);
    for (auto& w : workers)
        w->stop_accepting();
    auto deadline = std::chrono::steady_clock::now() + settings->server.shutdown_grace;
    auto remaining = [&] {
        std::size_t n = 0;
        for (auto& w : workers)
            n += w->sessions();
        return n;
    };
    while (remaining() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::size_t forced = remaining();
    for (auto& w : workers)
        w->stop();
    for (auto& w : workers)
        w->join();
    authenticator.reset();
    workers.clear();
    core::log_info("shutdown complete forced={}", forced);
    return 0;
}

}  // namespace submitd::server
