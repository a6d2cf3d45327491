// A string that holds a secret (a password, a SASL response) and wipes its
// bytes when it is destroyed, moved from or cleared. It has no stream or
// formatter, so it cannot end up in a log line by accident.
#pragma once

#include <string>
#include <string_view>

namespace submitd::core {

/// Overwrites `n` bytes at `p` in a way the compiler may not elide.
void wipe(void* p, std::size_t n);
inline void wipe(std::string& s) {
    wipe(s.data(), s.capacity());
    s.clear();
}

class secret_string {
public:
    secret_string() = default;
    explicit secret_string(std::string&& s) : value_(std::move(s)) {}
    explicit secret_string(std::string_view s) : value_(s) {}
    secret_string(const secret_string&) = delete;
    secret_string& operator=(const secret_string&) = delete;
    secret_string(secret_string&& other) noexcept : value_(std::move(other.value_)) {
        other.clear();
    }
    secret_string& operator=(secret_string&& other) noexcept {
        if (this != &other) {
            clear();
            value_ = std::move(other.value_);
            other.clear();
        }
        return *this;
    }
    ~secret_string() { clear(); }

    void clear() { wipe(value_); }
    std::string_view view() const { return value_; }
    bool empty() const { return value_.empty(); }
    std::size_t size() const { return value_.size(); }

private:
    std::string value_;
};

/// A string buffer that may hold a secret while it is built or sent (a
/// command line carrying a password): wiped when destroyed, moved from or
/// assigned over. Unlike secret_string it is meant to be written to.
struct wiped_string {
    std::string value;
    wiped_string() = default;
    explicit wiped_string(std::string&& v) : value(std::move(v)) {}
    wiped_string(const wiped_string&) = delete;
    wiped_string& operator=(const wiped_string&) = delete;
    wiped_string(wiped_string&& other) noexcept : value(std::move(other.value)) {
        wipe(other.value);
    }
    wiped_string& operator=(wiped_string&& other) noexcept {
        if (this != &other) {
            wipe(value);
            value = std::move(other.value);
            wipe(other.value);
        }
        return *this;
    }
    ~wiped_string() { wipe(value); }
};

}  // namespace submitd::core
