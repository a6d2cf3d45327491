// The Maildir outbox; see outbox.hpp.
#include "submission/outbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.hpp"

namespace submitd::submission {

namespace {

relay::reply make_reply(int code, std::string enhanced, std::string text) {
    relay::reply r;
    r.code = code;
    r.enhanced = enhanced;
    r.lines.push_back(enhanced + " " + text);
    return r;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

/// Creates PATH, PATH/tmp, PATH/new and PATH/cur as needed.
bool ensure_maildir(const std::string& path) {
    for (const std::string& d : {path, path + "/tmp", path + "/new", path + "/cur"}) {
        if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
    return true;
}

std::string unique_name() {
    static std::atomic<unsigned> counter{0};
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    char host[64] = {};
    gethostname(host, sizeof host - 1);
    for (char& c : host) {
        if (c == '/' || c == ':') c = '_';
    }
    return fmt::format("{}.M{}P{}Q{}.{}", us / 1000000, us % 1000000, getpid(), ++counter, host);
}

}  // namespace

outbox::outbox(std::string path) : path_(std::move(path)), address_("maildir:" + path_) {}

asio::awaitable<std::optional<std::vector<relay::reply>>> outbox::commands(
    const std::vector<std::string>& lines) {
    std::vector<relay::reply> replies;
    for (const auto& l : lines) {
        if (l.starts_with("MAIL ")) {
            replies.push_back(make_reply(250, "2.1.0", "Sender ok"));
        } else if (l.starts_with("RCPT ")) {
            replies.push_back(make_reply(250, "2.1.5", "Recipient ok"));
        } else if (l.starts_with("VRFY ")) {
            replies.push_back(make_reply(252, "2.5.0", "Cannot VRFY user"));
        } else {
            replies.push_back(make_reply(250, "2.0.0", "Ok"));
        }
    }
    co_return replies;
}

asio::awaitable<relay_outcome> outbox::message(const transaction& tx, std::string header,
                                               const spool& body) {
    relay_outcome outcome;
    auto fail = [&](const char* what) {
        core::log_error("outbox-failed path={} step={} reason={}", core::quoted(path_), what,
                        core::quoted(std::strerror(errno)));
        outcome.reply = make_reply(451, "4.3.0", "Local outbox error, try again later");
        return outcome;
    };
    if (!ensure_maildir(path_)) co_return fail("mkdir");
    std::string name = unique_name();
    std::string tmp = path_ + "/tmp/" + name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) co_return fail("open");
    std::string head = fmt::format("X-Envelope-From: <{}>\r\n", tx.reverse_path);
    for (const auto& r : tx.recipients)
        head += fmt::format("X-Envelope-To: <{}>\r\n", r);
    head += header;
    bool ok = write_all(fd, head);
    std::array<char, 65536> buf;
    for (std::uint64_t off = 0; ok && off < body.size();) {
        std::size_t n = 0;
        if (body.read(off, buf, n) || n == 0) {
            ok = false;
            break;
        }
        ok = write_all(fd, std::string_view(buf.data(), n));
        off += n;
    }
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    std::string final_name = path_ + "/new/" + name;
    if (!ok || ::rename(tmp.c_str(), final_name.c_str()) != 0) {
        ::unlink(tmp.c_str());
        co_return fail("write");
    }
    int dir = ::open((path_ + "/new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    outcome.end_sent = true;
    outcome.reply = make_reply(250, "2.0.0", "Ok: queued as " + name);
    co_return outcome;
}

}  // namespace submitd::submission
