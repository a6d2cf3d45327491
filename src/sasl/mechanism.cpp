// The table of SASL mechanisms we implement: PLAIN (RFC 4616) and LOGIN
// (draft-murchison-sasl-login). RFC 4422 section 3.1 spells mechanism names
// in upper-case ASCII; we match them in any case, so "AUTH plain" works too.
// It creates instances only; which names are offered is the session's choice.
#include "sasl/mechanism.hpp"

#include "sasl/mech_login.hpp"
#include "sasl/mech_plain.hpp"

namespace submitd::sasl {
namespace {

// ASCII-only case folding: mechanism names are ASCII (RFC 4422 section 3.1).
bool equals_ignoring_case(std::string_view a, std::string_view upper) {
    if (a.size() != upper.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (c != upper[i]) return false;
    }
    return true;
}

}  // namespace

mechanism_ptr make_mechanism(std::string_view name) {
    if (equals_ignoring_case(name, "PLAIN")) return std::make_unique<plain_mechanism>();
    if (equals_ignoring_case(name, "LOGIN")) return std::make_unique<login_mechanism>();
    return nullptr;
}

bool is_plaintext_mechanism(std::string_view name) {
    return equals_ignoring_case(name, "PLAIN") || equals_ignoring_case(name, "LOGIN");
}

}  // namespace submitd::sasl
