// Secret wiping; see secret.hpp.
#include "core/secret.hpp"

#include <cstring>

namespace submitd::core {

void wipe(void* p, std::size_t n) {
    if (p != nullptr && n > 0) explicit_bzero(p, n);
}

}  // namespace submitd::core
