// Helpers shared by the fuzz targets.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace submitd::fuzz {

/// A broken invariant: stop here, so libFuzzer keeps the input as a crash.
inline void require(bool condition) {
    if (!condition) __builtin_trap();
}

/// A fresh private directory under $TMPDIR (or /tmp) named `prefix`.XXXXXX.
inline std::string make_temp_dir(std::string_view prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" +
                          std::string(prefix) + ".XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    require(::mkdtemp(name.data()) != nullptr);
    return std::string(name.data());
}

}  // namespace submitd::fuzz
