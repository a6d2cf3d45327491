// Failed-authentication penalties per client address and per user name, so a
// password guesser slows down whether it varies the address or the account
// (OpenSMTPD's smtp_auth_failure_pause, Dovecot's auth_failure_delay). The
// delay after n recent failures is base * 2^(n-1), capped at `max`, where n
// is the larger of the address's and the user's counts. A failure is
// forgotten `window` after the last one; a success resets the address.
//
// The tables are bounded (max_entries each, oldest evicted first) so that
// guessing with made-up user names or addresses cannot exhaust memory. This
// only computes delays; the caller waits them out. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace submitd::auth {

struct penalty_settings {
    std::chrono::milliseconds base{2000};  ///< delay after the first failure
    std::chrono::milliseconds max{15000};  ///< cap on the delay
    std::chrono::seconds window{900};      ///< failures older than this are forgotten
    std::size_t max_entries = 100'000;     ///< per table (addresses, users)
};

class penalty_tracker {
public:
    using clock = std::chrono::steady_clock;
    using now_function = std::function<clock::time_point()>;

    /// @param now the clock, for tests; steady_clock::now when empty.
    explicit penalty_tracker(penalty_settings settings, now_function now = {});

    /// Counts one failure for `ip` and for `user` (an empty one is skipped).
    void record_failure(std::string_view ip, std::string_view user);

    /// Forgets the failures of `ip`. The user's count stays: a success from
    /// one address says nothing about guessing from others.
    void record_success(std::string_view ip);

    /// @return how long to wait before answering, from the failures recorded
    /// so far: zero without any, `base` after the first.
    std::chrono::milliseconds delay(std::string_view ip, std::string_view user) const;

    /// Applies new settings; the recorded counts stay.
    void set_settings(const penalty_settings& settings);
    penalty_settings settings() const;

    /// @return the number of addresses and user names tracked (for tests).
    std::size_t tracked() const;

private:
    struct entry {
        std::string key;
        unsigned count = 0;
        clock::time_point last;
    };

    /// Entries in order of their last failure, oldest first, with an index.
    class table {
    public:
        void add_failure(std::string_view key, clock::time_point now, const penalty_settings& s);
        void erase(std::string_view key);
        unsigned count(std::string_view key, clock::time_point now,
                       const penalty_settings& s) const;
        void prune(clock::time_point now, const penalty_settings& s);
        std::size_t size() const { return order_.size(); }

    private:
        std::list<entry> order_;
        // Keys view the strings inside order_'s nodes, which never move.
        std::unordered_map<std::string_view, std::list<entry>::iterator> index_;
    };

    const now_function now_;
    mutable std::mutex mutex_;
    penalty_settings settings_;
    table ips_;
    table users_;
};

}  // namespace submitd::auth
