// submitd-bench-load: an SMTP submission load generator, used to compare
// submitd with Dovecot's submission service, Postfix's smtpd and smtp-sink
// on one machine. One process; each --threads thread runs an io_context with
// one coroutine per connection. It sends prebuilt commands and one prebuilt
// message (built once, shared, written in 256 KiB pieces), checks every reply
// code, and reports exact p50/p99 latencies (every sample kept), throughput
// and its own CPU time, so that its share of the machine can be subtracted.
// Idle mode holds N authenticated sessions for memory measurements.
// It does not resume TLS sessions (each connection pays a full handshake),
// verify certificates unless given --ca, or retry a failed message: failures
// are counted and the first five distinct failure texts reported. `--help`
// shows the flags; exit status 0 means no failure, 1 some (or a run cut
// short by a signal), 2 a usage error.
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <fmt/format.h>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/ssl/context.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "loadgen/connection.hpp"
#include "loadgen/options.hpp"
#include "loadgen/runner.hpp"
#include "loadgen/script.hpp"
#include "loadgen/stats.hpp"

namespace submitd::bench {

namespace {

constexpr unsigned max_handshakes_in_flight = 200;

[[noreturn]] void usage_error(const std::string& why) {
    fmt::print(stderr, "submitd-bench-load: {}\n\n{}", why, usage_text());
    std::exit(2);
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

std::shared_ptr<asio::ssl::context> make_tls(const options& o) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    // Full handshakes only: no client session cache, so nothing is resumed.
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    // Idle sessions need not keep OpenSSL's record buffers; busy ones would
    // only free and allocate them again for every record.
    if (o.idle > 0) SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    if (o.ca_file.empty()) {
        ctx->set_verify_mode(asio::ssl::verify_none);
        return ctx;
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
    std::error_code ec;
    ctx->load_verify_file(o.ca_file, ec);
    if (ec) usage_error(fmt::format("cannot load --ca {}: {}", o.ca_file, ec.message()));
    return ctx;
}

// Stops the run on SIGINT or SIGTERM; a second signal exits at once.
class signal_watch {
public:
    signal_watch(asio::io_context& io, std::function<void()> on_stop)
        : signals_(io, SIGINT, SIGTERM), on_stop_(std::move(on_stop)) {
        arm();
    }
    void cancel() {
        std::error_code ignored;
        signals_.cancel(ignored);
    }

private:
    void arm() {
        signals_.async_wait([this](std::error_code ec, int) {
            if (ec) return;
            if (stopping_) std::_Exit(130);
            stopping_ = true;
            on_stop_();
            arm();
        });
    }
    asio::signal_set signals_;
    std::function<void()> on_stop_;
    bool stopping_ = false;
};

// Idle mode: waits in its own thread for stdin to reach EOF; woken through a
// pipe when the run ends for another reason.
class stdin_watch {
public:
    explicit stdin_watch(std::function<void()> on_eof) {
        if (pipe(wake_) != 0) throw std::runtime_error("pipe failed");
        thread_ = std::thread([this, on_eof = std::move(on_eof)] {
            if (wait_for_eof()) on_eof();
        });
    }
    ~stdin_watch() {
        char c = 0;
        static_cast<void>(::write(wake_[1], &c, 1));
        thread_.join();
        ::close(wake_[0]);
        ::close(wake_[1]);
    }

private:
    bool wait_for_eof() {
        char buf[4096];
        for (;;) {
            pollfd fds[2] = {{0, POLLIN, 0}, {wake_[0], POLLIN, 0}};
            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                return true;
            }
            if (fds[1].revents != 0) return false;
            ssize_t n = ::read(0, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
        }
    }
    int wake_[2] = {-1, -1};
    std::thread thread_;
};

int run(const options& opts) {
    setup s;
    s.opts = opts;
    try {
        s.bytes = build_script(opts);
    } catch (const std::invalid_argument& e) {
        usage_error(e.what());
    }

    asio::io_context control(1);
    {
        asio::ip::tcp::resolver resolver(control);
        std::error_code ec;
        auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
        if (ec || results.empty())
            usage_error(fmt::format("cannot resolve {}: {}", opts.host, ec.message()));
        s.endpoint = results.begin()->endpoint();
    }
    if (opts.tls != tls_mode::none) {
        s.tls = make_tls(opts);
        if (!opts.ca_file.empty())
            s.verify_name = opts.server_name.empty() ? opts.host : opts.server_name;
    }
    raise_fd_limit();
    std::signal(SIGPIPE, SIG_IGN);

    const bool idle = opts.idle > 0;
    clock_type::time_point start;
    std::atomic<std::int64_t> ready_ns{0};
    run_control ctl(opts, [&](std::uint64_t ok, std::uint64_t failed) {
        ready_ns.store(
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start)
                .count());
        fmt::print("ready {}\n", ok);
        std::fflush(stdout);
        if (failed > 0) {
            fmt::print(stderr, "failed {}\n", failed);
            std::fflush(stderr);
        }
    });

    std::vector<std::unique_ptr<runner>> runners;
    const unsigned n = opts.threads;
    const unsigned units = idle ? opts.idle : opts.connections;
    for (unsigned i = 0; i < n; ++i) {
        runners.push_back(std::make_unique<runner>(s, ctl));
        unsigned share = units / n + (i < units % n ? 1 : 0);
        if (idle) {
            runners.back()->start_idle(share, std::max(1u, max_handshakes_in_flight / n));
        } else {
            runners.back()->start_load(share);
        }
    }
    if (idle) ctl.expect_openers(n);

    unsigned exited = 0;
    std::unique_ptr<signal_watch> signals;
    auto check_done = [&] {
        if (exited == n && (!idle || ctl.stop_requested())) signals->cancel();
    };
    auto stop_all = [&] {
        ctl.request_stop();
        for (auto& r : runners)
            r->stop();
        check_done();
    };
    signals = std::make_unique<signal_watch>(control, stop_all);
    std::unique_ptr<stdin_watch> input;
    if (idle) input = std::make_unique<stdin_watch>([&] { asio::post(control, stop_all); });

    const double cpu_start = cpu_seconds();
    start = clock_type::now();
    ctl.start(start);
    std::vector<std::thread> threads;
    for (auto& r : runners) {
        threads.emplace_back([&control, &exited, &check_done, r = r.get()] {
            r->run();
            asio::post(control, [&] {
                ++exited;
                check_done();
            });
        });
    }
    control.run();
    for (auto& t : threads)
        t.join();
    const auto end = clock_type::now();
    const double cpu = cpu_seconds() - cpu_start;
    input.reset();

    stats total;
    for (auto& r : runners)
        total.merge(std::move(r->results()));
    const double elapsed = seconds_between(start, end);
    if (idle) {
        idle_report rep;
        rep.ready = total.ok;
        rep.failed = total.failed;
        rep.dropped = total.dropped;
        rep.ready_s = static_cast<double>(ready_ns.load()) / 1e9;
        rep.elapsed_s = elapsed;
        rep.cpu_s = cpu;
        rep.errors = total.error_texts();
        fmt::print("{}", opts.json ? format_json(rep) : format_text(rep));
        return total.failed == 0 && total.dropped == 0 ? 0 : 1;
    }
    auto rep = make_load_report(total, elapsed, cpu);
    fmt::print("{}", opts.json ? format_json(rep) : format_text(rep));
    // A run cut short is not a clean measurement even if nothing failed.
    if (ctl.stop_requested()) {
        fmt::print(stderr, "submitd-bench-load: interrupted by a signal after {} messages\n",
                   total.ok + total.failed);
        return 1;
    }
    return total.failed == 0 ? 0 : 1;
}

}  // namespace

}  // namespace submitd::bench

int main(int argc, char** argv) {
    using namespace submitd::bench;
    auto parsed = parse_options(argc, argv);
    if (parsed.help) {
        fmt::print("{}", usage_text());
        return 0;
    }
    if (!parsed.opts) usage_error(parsed.error);
    return run(*parsed.opts);
}
