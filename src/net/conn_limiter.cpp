// Session counting; see conn_limiter.hpp.
#include "net/conn_limiter.hpp"

namespace submitd::net {

void conn_limiter::token::release() {
    if (owner_) owner_->release(ip_);
    owner_.reset();
}

conn_limiter::token conn_limiter::acquire(const std::string& ip, unsigned max_total,
                                          unsigned max_per_ip) {
    std::lock_guard lock(mutex_);
    if (total_ >= max_total) return {};
    unsigned& n = per_ip_[ip];
    if (n >= max_per_ip) {
        if (n == 0) per_ip_.erase(ip);
        return {};
    }
    ++n;
    ++total_;
    return token(shared_from_this(), ip);
}

unsigned conn_limiter::total() const {
    std::lock_guard lock(mutex_);
    return total_;
}

void conn_limiter::release(const std::string& ip) {
    std::lock_guard lock(mutex_);
    --total_;
    auto it = per_ip_.find(ip);
    if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

}  // namespace submitd::net
