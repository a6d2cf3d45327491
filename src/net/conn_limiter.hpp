// Counts open sessions in total and per client address across all workers,
// so that a flood from one address, or from everywhere, gets 421 4.7.0 at the
// greeting instead of a session. A slot is held by a move-only token.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace submitd::net {

class conn_limiter : public std::enable_shared_from_this<conn_limiter> {
public:
    class token {
    public:
        token() = default;
        token(std::shared_ptr<conn_limiter> owner, std::string ip)
            : owner_(std::move(owner)), ip_(std::move(ip)) {}
        token(token&&) noexcept = default;
        token& operator=(token&& other) noexcept {
            release();
            owner_ = std::move(other.owner_);
            ip_ = std::move(other.ip_);
            return *this;
        }
        ~token() { release(); }
        explicit operator bool() const { return owner_ != nullptr; }

    private:
        void release();
        std::shared_ptr<conn_limiter> owner_;
        std::string ip_;
    };

    /// @return a held slot, or an empty token when a limit is reached.
    token acquire(const std::string& ip, unsigned max_total, unsigned max_per_ip);
    unsigned total() const;

private:
    void release(const std::string& ip);

    mutable std::mutex mutex_;
    unsigned total_ = 0;
    std::unordered_map<std::string, unsigned> per_ip_;
};

}  // namespace submitd::net
