// A passdb backed by a passwd-file (passwd_file.hpp) that follows changes to
// the file. It keeps an immutable snapshot (shared_ptr<const passwd_db>);
// lookup() checks at most once per interval whether the file changed (stat:
// device, inode, size, mtime, ctime) and, if so, parses it again. A reload
// that fails (unreadable, parse error) keeps the old snapshot and logs one
// warn line naming the path, line and reason; the same broken version of the
// file is not parsed or reported again. Lookups may come from any thread.
//
// It does not watch the file (no inotify) and does not reload on a signal by
// itself: the server calls check_now() or builds a new instance on SIGHUP.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "auth/passwd_file.hpp"

namespace submitd::auth {

enum class lookup_status {
    found,        ///< `entry` is set
    not_found,    ///< the file has no such user
    unavailable,  ///< no version of the file could ever be loaded
};

struct passdb_lookup {
    lookup_status status = lookup_status::unavailable;
    /// Set with lookup_status::found; shares ownership of the snapshot it
    /// came from, so a reload does not pull it away.
    std::shared_ptr<const passwd_entry> entry;
};

struct passwd_load_result {
    std::shared_ptr<const passwd_db> db;  ///< null on failure
    std::string error;  ///< "PATH:LINE: message" or "PATH: reason"; empty on success
};

class passwd_file_passdb {
public:
    using clock = std::chrono::steady_clock;
    using now_function = std::function<clock::time_point()>;

    /// Loads `path` now; on failure logs a warn line and starts unavailable,
    /// retrying on later lookups.
    /// @param check_interval least time between two stat() calls; zero checks on
    /// every lookup.
    /// @param now the clock, for tests; steady_clock::now when empty.
    explicit passwd_file_passdb(std::string path,
                                std::chrono::milliseconds check_interval = std::chrono::seconds(1),
                                now_function now = {});
    passwd_file_passdb(const passwd_file_passdb&) = delete;
    passwd_file_passdb& operator=(const passwd_file_passdb&) = delete;

    /// Reads and parses `path` once, for start-up and `submitd check`.
    static passwd_load_result load(const std::string& path);

    /// Finds `user` (exact match) in the current snapshot, after reloading the
    /// file if the interval has passed and it changed.
    passdb_lookup lookup(std::string_view user);

    /// lookup() without touching the file: nullopt when the interval has
    /// passed (a stat is due, which lookup() does) or there is no snapshot.
    std::optional<passdb_lookup> lookup_if_fresh(std::string_view user);

    /// Checks the file now, ignoring the interval (for SIGHUP and tests).
    void check_now();

    /// @return the current snapshot; null while unavailable.
    std::shared_ptr<const passwd_db> snapshot() const;

    const std::string& path() const { return path_; }

    /// What identifies one version of the file.
    struct file_stamp {
        bool exists = false;
        dev_t device = 0;
        ino_t inode = 0;
        off_t size = 0;
        timespec mtime{};
        timespec ctime{};
        bool operator==(const file_stamp& other) const;
    };

private:
    void maybe_reload(bool force);

    const std::string path_;
    const std::chrono::milliseconds check_interval_;
    const now_function now_;

    mutable std::mutex mutex_;  // guards snapshot_, last_check_, checked_
    std::shared_ptr<const passwd_db> snapshot_;
    clock::time_point last_check_{};
    bool checked_ = false;

    std::mutex reload_mutex_;  // one reload at a time; guards the stamps below
    file_stamp loaded_stamp_;
    file_stamp failed_stamp_;
    bool has_failed_ = false;
};

}  // namespace submitd::auth
