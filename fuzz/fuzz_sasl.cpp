// libFuzzer target for the SASL decoders: base64 and the PLAIN and LOGIN
// mechanisms. The first byte picks the path (bits 0-1):
//   0  base64: decoding must be canonical (encode(decode(t)) == t) and
//      decode(encode(x)) == x for any bytes x;
//   1  PLAIN with the rest as one message, sent both as an initial response
//      and after the empty challenge, with identical results;
//   2  LOGIN: the second byte is a separator, the rest split at it into
//      responses; bit 2 set sends the first one as the initial response;
//   3  make_mechanism with the rest as a name, then that mechanism's start().
// Invariants are checked with __builtin_trap: the field limits hold for any
// accepted credentials, reasons are printable text, nothing steps after the end.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base64.hpp"
#include "fuzz_support.hpp"
#include "sasl/mech_login.hpp"
#include "sasl/mech_plain.hpp"
#include "sasl/mechanism.hpp"

namespace {

using namespace submitd::sasl;
using submitd::core::base64_decode;
using submitd::core::base64_encode;

using submitd::fuzz::require;

bool is_printable_ascii(std::string_view s) {
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

void check_reason(const step_result& r) {
    require(r.status == step_status::bad_syntax);
    require(!r.reason.empty() && r.reason.size() < 100 && is_printable_ascii(r.reason));
}

void check_credentials(const credentials& creds) {
    require(!creds.authcid.empty() && creds.authcid.size() <= max_identity_length);
    require(creds.authzid.size() <= max_identity_length);
    require(!creds.password.empty() && creds.password.size() <= max_password_length);
    require(creds.password.view().find('\0') == std::string_view::npos);
    for (const std::string_view id :
         {std::string_view(creds.authzid), std::string_view(creds.authcid)}) {
        for (const char c : id)
            require(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    }
}

void fuzz_base64(std::string_view input) {
    // Strict decoding means one spelling per value: re-encoding gives the input back.
    if (const auto decoded = base64_decode(input)) require(base64_encode(*decoded) == input);
    const std::string encoded = base64_encode(input);
    const auto round_trip = base64_decode(encoded);
    require(round_trip.has_value() && *round_trip == input);
}

// Runs one PLAIN message and returns the outcome for comparison.
struct plain_outcome {
    step_status status;
    std::string reason;
    std::string authzid;
    std::string authcid;
    std::string password;
};

plain_outcome run_plain(std::string_view message, bool initial) {
    plain_mechanism mech;
    step_result r;
    if (initial) {
        r = mech.start(message);
    } else {
        const step_result first = mech.start(std::nullopt);
        require(first.status == step_status::challenge && first.challenge.empty());
        r = mech.step(message);
    }
    plain_outcome out{r.status, r.reason, {}, {}, {}};
    if (r.status == step_status::done) {
        const credentials creds = mech.take_credentials();
        check_credentials(creds);
        out.authzid = creds.authzid;
        out.authcid = creds.authcid;
        out.password = std::string(creds.password.view());
        // The credentials are exactly the message's three fields.
        const std::string rebuilt =
            out.authzid + std::string(1, '\0') + out.authcid + std::string(1, '\0') + out.password;
        require(rebuilt == message);
    } else {
        check_reason(r);
    }
    // Nothing follows the end of the exchange.
    check_reason(mech.step(message));
    return out;
}

void fuzz_plain(std::string_view input) {
    const plain_outcome a = run_plain(input, true);
    const plain_outcome b = run_plain(input, false);
    require(a.status == b.status && a.reason == b.reason && a.authzid == b.authzid &&
            a.authcid == b.authcid && a.password == b.password);
}

void fuzz_login(std::string_view input, bool initial) {
    if (input.empty()) return;
    const char separator = input[0];
    std::vector<std::string_view> pieces;
    std::string_view rest = input.substr(1);
    for (;;) {
        const std::size_t at = rest.find(separator);
        pieces.push_back(rest.substr(0, at));
        if (at == std::string_view::npos) break;
        rest.remove_prefix(at + 1);
    }

    login_mechanism mech;
    std::size_t next = 0;
    std::string_view username;
    std::string_view sent;  // the last piece the mechanism saw
    bool asking_username = false;
    step_result r;
    if (initial) {
        username = sent = pieces[next++];
        r = mech.start(sent);
    } else {
        r = mech.start(std::nullopt);
        require(r.status == step_status::challenge && r.challenge == "Username:");
        asking_username = true;
    }
    bool ended = false;
    int password_prompts = 0;
    for (;;) {
        if (!ended && r.status == step_status::done) {
            // Only a password answers into done, and only after a user name.
            require(!asking_username && !username.empty());
            const credentials creds = mech.take_credentials();
            check_credentials(creds);
            require(creds.authzid.empty() && creds.authcid == username);
            require(creds.password.view() == sent);
            ended = true;
        } else if (!ended && r.status == step_status::bad_syntax) {
            check_reason(r);
            ended = true;
        } else if (!ended && next > 0 && !asking_username) {
            require(r.status == step_status::challenge && r.challenge == "Password:");
            require(++password_prompts == 1);
        }
        if (next == pieces.size()) break;
        sent = pieces[next++];
        if (ended) {
            check_reason(mech.step(sent));
            continue;
        }
        if (asking_username) username = sent;
        // After the first answer the only prompt left is "Password:".
        asking_username = false;
        r = mech.step(sent);
    }
}

void fuzz_name(std::string_view input) {
    const mechanism_ptr mech = make_mechanism(input);
    if (!mech) {
        require(!is_plaintext_mechanism(input));
        return;
    }
    require(is_plaintext_mechanism(input));
    require(mech->name() == "PLAIN" || mech->name() == "LOGIN");
    require(mech->start(std::nullopt).status == step_status::challenge);
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t selector = data[0];
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    const bool initial = (selector & 4U) != 0;
    switch (selector & 3U) {
        case 0:
            fuzz_base64(input);
            break;
        case 1:
            fuzz_plain(input);
            break;
        case 2:
            fuzz_login(input, initial);
            break;
        default:
            fuzz_name(input);
            break;
    }
    return 0;
}
