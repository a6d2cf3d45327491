// The reloading passwd-file passdb; see passwd_file_passdb.hpp. The file is
// read whole (up to max_file_size), parsed, and the buffer wiped: it holds
// password hashes and maybe {PLAIN} passwords.
#include "auth/passwd_file_passdb.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "core/log.hpp"
#include "core/secret.hpp"

namespace submitd::auth {

namespace {

constexpr off_t max_file_size = off_t{64} * 1024 * 1024;

using file_stamp = passwd_file_passdb::file_stamp;

file_stamp stamp_of(const struct stat& st) {
    file_stamp s;
    s.exists = true;
    s.device = st.st_dev;
    s.inode = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
    s.ctime = st.st_ctim;
    return s;
}

std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

class unique_fd {
public:
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

struct file_contents {
    std::string text;
    file_stamp stamp;   ///< of what was read (fstat on the open file)
    std::string error;  ///< empty on success
};

file_contents read_file(const std::string& path) {
    file_contents out;
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd.get() < 0) {
        out.error = errno_text(errno);
        return out;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        out.error = errno_text(errno);
        return out;
    }
    out.stamp = stamp_of(st);
    if (!S_ISREG(st.st_mode)) {
        out.error = "not a regular file";
        return out;
    }
    if (st.st_size > max_file_size) {
        out.error = "file too large";
        return out;
    }
    // Room for one extra read that sees EOF, so the buffer holding hashes is
    // not reallocated (and an unwiped copy left behind) in the usual case.
    out.text.reserve(static_cast<std::size_t>(st.st_size) + 4096);
    out.text.resize(static_cast<std::size_t>(st.st_size));
    std::size_t used = 0;
    for (;;) {
        if (used == out.text.size()) {
            // The file may have grown since fstat; read on, within the limit.
            if (out.text.size() >= static_cast<std::size_t>(max_file_size)) {
                core::wipe(out.text);
                out.error = "file too large";
                return out;
            }
            out.text.resize(out.text.size() + 4096);
        }
        ssize_t n = ::read(fd.get(), out.text.data() + used, out.text.size() - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            core::wipe(out.text);
            out.error = errno_text(errno);
            return out;
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
    }
    out.text.resize(used);
    return out;
}

struct load_attempt {
    std::shared_ptr<const passwd_db> db;  ///< null on failure
    file_stamp stamp;
    std::size_t line = 0;  ///< with a parse error
    std::string reason;
};

load_attempt load_file(const std::string& path) {
    load_attempt out;
    auto contents = read_file(path);
    out.stamp = contents.stamp;
    if (!contents.error.empty()) {
        out.reason = std::move(contents.error);
        return out;
    }
    auto parsed = parse_passwd(contents.text);
    core::wipe(contents.text);
    if (auto* error = std::get_if<passwd_error>(&parsed)) {
        out.line = error->line;
        out.reason = std::move(error->message);
        return out;
    }
    out.db = std::make_shared<const passwd_db>(std::move(std::get<passwd_db>(parsed)));
    return out;
}

void log_load_failure(const std::string& path, const load_attempt& attempt, bool keeping) {
    std::string line = attempt.line > 0 ? fmt::format(" line={}", attempt.line) : std::string();
    core::log_warn("passdb-load-failed path={}{} reason={} action={}", core::quoted(path), line,
                   core::quoted(attempt.reason), keeping ? "keeping_previous" : "unavailable");
}

}  // namespace

bool passwd_file_passdb::file_stamp::operator==(const file_stamp& other) const {
    if (!exists || !other.exists) return exists == other.exists;
    return device == other.device && inode == other.inode && size == other.size &&
           mtime.tv_sec == other.mtime.tv_sec && mtime.tv_nsec == other.mtime.tv_nsec &&
           ctime.tv_sec == other.ctime.tv_sec && ctime.tv_nsec == other.ctime.tv_nsec;
}

passwd_file_passdb::passwd_file_passdb(std::string path, std::chrono::milliseconds check_interval,
                                       now_function now)
    : path_(std::move(path)),
      check_interval_(check_interval),
      now_(now ? std::move(now) : now_function([] { return clock::now(); })) {
    maybe_reload(true);
}

passwd_load_result passwd_file_passdb::load(const std::string& path) {
    auto attempt = load_file(path);
    if (attempt.db) return {std::move(attempt.db), {}};
    if (attempt.line > 0) {
        return {nullptr, fmt::format("{}:{}: {}", path, attempt.line, attempt.reason)};
    }
    return {nullptr, fmt::format("{}: {}", path, attempt.reason)};
}

passdb_lookup passwd_file_passdb::lookup(std::string_view user) {
    maybe_reload(false);
    auto db = snapshot();
    if (!db) return {lookup_status::unavailable, nullptr};
    const passwd_entry* entry = db->find(user);
    if (entry == nullptr) return {lookup_status::not_found, nullptr};
    return {lookup_status::found, std::shared_ptr<const passwd_entry>(std::move(db), entry)};
}

std::optional<passdb_lookup> passwd_file_passdb::lookup_if_fresh(std::string_view user) {
    std::shared_ptr<const passwd_db> db;
    {
        auto now = now_();
        std::lock_guard lock(mutex_);
        if (!checked_ || now - last_check_ >= check_interval_ || !snapshot_) return std::nullopt;
        db = snapshot_;
    }
    const passwd_entry* entry = db->find(user);
    if (entry == nullptr) return passdb_lookup{lookup_status::not_found, nullptr};
    return passdb_lookup{lookup_status::found,
                         std::shared_ptr<const passwd_entry>(std::move(db), entry)};
}

void passwd_file_passdb::check_now() {
    maybe_reload(true);
}

std::shared_ptr<const passwd_db> passwd_file_passdb::snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
}

void passwd_file_passdb::maybe_reload(bool force) {
    auto now = now_();
    {
        std::lock_guard lock(mutex_);
        if (!force && checked_ && now - last_check_ < check_interval_) return;
        last_check_ = now;
        checked_ = true;
    }
    // Another thread already reloading: the others go on with the old snapshot.
    std::unique_lock reload_lock(reload_mutex_, std::defer_lock);
    if (force) {
        reload_lock.lock();
    } else if (!reload_lock.try_lock()) {
        return;
    }

    file_stamp current;
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) current = stamp_of(st);
    bool loaded = snapshot() != nullptr;
    if (loaded && current == loaded_stamp_) return;
    if (has_failed_ && current == failed_stamp_) return;  // already reported

    auto attempt = load_file(path_);
    if (attempt.db) {
        core::log_info("passdb-loaded path={} users={}", core::quoted(path_), attempt.db->size());
        loaded_stamp_ = attempt.stamp;
        has_failed_ = false;
        std::lock_guard lock(mutex_);
        snapshot_ = std::move(attempt.db);
        return;
    }
    failed_stamp_ = attempt.stamp.exists ? attempt.stamp : current;
    has_failed_ = true;
    log_load_failure(path_, attempt, loaded);
}

}  // namespace submitd::auth
