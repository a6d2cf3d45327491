// The relays' capabilities as last learnt (at start-up, on each refresh, and
// by every session that connects), shared by all workers, so the EHLO reply
// is the same before and after AUTH and a login never waits for a relay
// (DESIGN.md section 3). Thread-safe; a value type is handed out.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

#include "relay/reply.hpp"
#include "smtp/capabilities.hpp"

namespace submitd::relay {

/// What we add to a message (the Received header), kept out of the SIZE we
/// announce so a message we accept also fits the relay's limit.
inline constexpr std::uint64_t size_overhead = 4096;

class caps_cache {
public:
    void set(const capabilities& caps);
    /// @return the last learnt capabilities, or nullopt before any relay answered.
    std::optional<capabilities> get() const;

private:
    mutable std::mutex mutex_;
    std::optional<capabilities> caps_;
};

/// Fills the relay-dependent part of an EHLO list: 8BITMIME, DSN and SMTPUTF8
/// only when the relay has them, and SIZE as the smaller of `local_max` and
/// the relay's limit less size_overhead.
void announce(const std::optional<capabilities>& relay, std::uint64_t local_max,
              smtp::capability_state& out);

}  // namespace submitd::relay
