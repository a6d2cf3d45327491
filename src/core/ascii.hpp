// ASCII case folding for protocol keywords (SMTP verbs and parameters, IMAP
// responses, scheme names): only a-z and A-Z fold, whatever the locale, so
// 8-bit bytes never compare equal to letters.
#pragma once

#include <string_view>

namespace submitd::core {

constexpr char ascii_upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_upper(a[i]) != ascii_upper(b[i])) return false;
    }
    return true;
}

}  // namespace submitd::core
