// libFuzzer target for imap/url: the input is a BURL argument. Every URL that
// parses must be made only of URL characters (so it can go into an IMAP
// quoted string unchanged), keep its text, have a non-zero UID, a non-empty
// mailbox and host, no control characters in the decoded user, mailbox,
// section and access, and a URLAUTH verifier of 32 or more hex digits. The
// mailbox's modified UTF-7 form, when there is one, is printable ASCII, and
// imap_mailbox() of plain printable ASCII without '&' is the identity.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "imap/url.hpp"

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

void no_controls(const std::string& s) {
    for (unsigned char c : s)
        check(c >= 0x20 && c != 0x7f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto url = submitd::imap::parse_imap_url(in);
    if (url) {
        check(url->text == in);
        for (unsigned char c : url->text)
            check(c > 0x20 && c < 0x7f && c != '"' && c != '\\');
        check(url->uid != 0);
        check(!url->mailbox.empty() && !url->host.empty());
        check(!url->uidvalidity || *url->uidvalidity != 0);
        no_controls(url->user);
        no_controls(url->mailbox);
        no_controls(url->section);
        no_controls(url->access);
        if (url->has_urlauth) {
            check(url->token.size() >= 32 && !url->access.empty() && !url->mechanism.empty());
        }
        if (url->partial && url->partial->second) check(*url->partial->second != 0);
        for (char c : url->host)
            check(!(c >= 'A' && c <= 'Z'));
    }
    auto box = submitd::imap::imap_mailbox(in);
    if (box) {
        for (unsigned char c : *box)
            check(c >= 0x20 && c < 0x7f);
        bool plain = true;
        for (unsigned char c : in)
            plain = plain && c >= 0x20 && c < 0x7f && c != '&';
        if (plain) check(*box == in);
    }
    return 0;
}
