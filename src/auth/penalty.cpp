// Failure penalties; see penalty.hpp.
#include "auth/penalty.hpp"

#include <algorithm>

namespace submitd::auth {

namespace {

/// Counts saturate here; the delay reaches any sane cap long before.
constexpr unsigned max_count = 1000;

bool expired(penalty_tracker::clock::time_point last, penalty_tracker::clock::time_point now,
             const penalty_settings& s) {
    return now - last >= s.window;
}

}  // namespace

void penalty_tracker::table::add_failure(std::string_view key, clock::time_point now,
                                         const penalty_settings& s) {
    if (key.empty()) return;
    if (auto it = index_.find(key); it != index_.end()) {
        auto node = it->second;
        node->count = expired(node->last, now, s) ? 1 : std::min(node->count + 1, max_count);
        node->last = now;
        order_.splice(order_.end(), order_, node);  // now the newest; iterators stay valid
    } else {
        order_.push_back(entry{std::string(key), 1, now});
        auto node = std::prev(order_.end());
        index_.emplace(node->key, node);
    }
    prune(now, s);
}

void penalty_tracker::table::erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    auto node = it->second;
    index_.erase(it);
    order_.erase(node);
}

unsigned penalty_tracker::table::count(std::string_view key, clock::time_point now,
                                       const penalty_settings& s) const {
    auto it = index_.find(key);
    if (it == index_.end() || expired(it->second->last, now, s)) return 0;
    return it->second->count;
}

void penalty_tracker::table::prune(clock::time_point now, const penalty_settings& s) {
    auto limit = std::max<std::size_t>(s.max_entries, 1);
    while (!order_.empty() && (order_.size() > limit || expired(order_.front().last, now, s))) {
        index_.erase(order_.front().key);
        order_.pop_front();
    }
}

penalty_tracker::penalty_tracker(penalty_settings settings, now_function now)
    : now_(now ? std::move(now) : now_function([] { return clock::now(); })), settings_(settings) {}

void penalty_tracker::record_failure(std::string_view ip, std::string_view user) {
    auto now = now_();
    std::lock_guard lock(mutex_);
    ips_.add_failure(ip, now, settings_);
    users_.add_failure(user, now, settings_);
}

void penalty_tracker::record_success(std::string_view ip) {
    std::lock_guard lock(mutex_);
    ips_.erase(ip);
}

std::chrono::milliseconds penalty_tracker::delay(std::string_view ip, std::string_view user) const {
    auto now = now_();
    std::lock_guard lock(mutex_);
    unsigned failures =
        std::max(ips_.count(ip, now, settings_), users_.count(user, now, settings_));
    if (failures == 0 || settings_.base.count() <= 0) return std::chrono::milliseconds{0};
    auto result = settings_.base;
    for (unsigned i = 1; i < failures && result < settings_.max; ++i)
        result *= 2;
    return std::min(result, settings_.max);
}

void penalty_tracker::set_settings(const penalty_settings& settings) {
    auto now = now_();
    std::lock_guard lock(mutex_);
    settings_ = settings;
    ips_.prune(now, settings_);
    users_.prune(now, settings_);
}

penalty_settings penalty_tracker::settings() const {
    std::lock_guard lock(mutex_);
    return settings_;
}

std::size_t penalty_tracker::tracked() const {
    std::lock_guard lock(mutex_);
    return ips_.size() + users_.size();
}

}  // namespace submitd::auth
