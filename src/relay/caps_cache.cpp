// Relay capability cache; see caps_cache.hpp.
#include "relay/caps_cache.hpp"

#include <algorithm>

namespace submitd::relay {

void caps_cache::set(const capabilities& caps) {
    std::lock_guard lock(mutex_);
    caps_ = caps;
}

std::optional<capabilities> caps_cache::get() const {
    std::lock_guard lock(mutex_);
    return caps_;
}

void announce(const std::optional<capabilities>& relay, std::uint64_t local_max,
              smtp::capability_state& out) {
    out.max_message_size = local_max;
    out.eightbitmime = relay && relay->eightbitmime;
    out.dsn = relay && relay->dsn;
    out.smtputf8 = relay && relay->smtputf8;
    out.binarymime = relay && relay->binarymime && relay->chunking;
    if (relay && relay->size && *relay->size > 0) {
        std::uint64_t limit = *relay->size > size_overhead ? *relay->size - size_overhead : 1;
        out.max_message_size = std::min(local_max, limit);
    }
}

}  // namespace submitd::relay
