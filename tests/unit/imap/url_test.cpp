#include "imap/url.hpp"

#include "imap/client.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace submitd::imap {
namespace {

TEST(ImapUrl, CyrusUrlauthUrl) {
    std::string text =
        "imap://alice@127.0.0.1:1143/INBOX;UIDVALIDITY=1700000000/;UID=1;urlauth=submit+alice:"
        "internal:0123456789abcdef0123456789abcdef0123456789";
    auto u = parse_imap_url(text);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->text, text);
    EXPECT_EQ(u->user, "alice");
    EXPECT_EQ(u->host, "127.0.0.1");
    EXPECT_EQ(u->port, 1143);
    EXPECT_EQ(u->mailbox, "INBOX");
    EXPECT_EQ(u->uidvalidity, 1700000000u);
    EXPECT_EQ(u->uid, 1u);
    EXPECT_TRUE(u->section.empty());
    EXPECT_FALSE(u->partial);
    EXPECT_TRUE(u->has_urlauth);
    EXPECT_EQ(u->access, "submit+alice");
    EXPECT_EQ(u->mechanism, "INTERNAL");
    EXPECT_EQ(u->token, "0123456789abcdef0123456789abcdef0123456789");
}

TEST(ImapUrl, Rfc4467ExampleWithSectionAndExpire) {
    auto u = parse_imap_url(
        "imap://joe@example.com/INBOX/;uid=20/;section=1.2;EXPIRE=2026-12-01T10:00:00Z;"
        "urlauth=submit+fred:internal:91354a473744909de610943775f92038");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->user, "joe");
    EXPECT_EQ(u->host, "example.com");
    EXPECT_EQ(u->port, 143);
    EXPECT_EQ(u->mailbox, "INBOX");
    EXPECT_FALSE(u->uidvalidity);
    EXPECT_EQ(u->uid, 20u);
    EXPECT_EQ(u->section, "1.2");
    EXPECT_EQ(u->access, "submit+fred");
}

TEST(ImapUrl, PlainUrlWithPartialAndEscapes) {
    auto u = parse_imap_url(
        "IMAP://Bob%40Corp;AUTH=*@[::1]:993/Sent%20Items/2026;UIDVALIDITY=7/;UID=42/"
        ";SECTION=HEADER.FIELDS%20(SUBJECT)/;PARTIAL=10.200");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->user, "Bob@Corp");
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, 993);
    EXPECT_EQ(u->mailbox, "Sent Items/2026");
    EXPECT_EQ(u->uidvalidity, 7u);
    EXPECT_EQ(u->uid, 42u);
    EXPECT_EQ(u->section, "HEADER.FIELDS (SUBJECT)");
    ASSERT_TRUE(u->partial);
    EXPECT_EQ(u->partial->first, 10u);
    EXPECT_EQ(u->partial->second, 200u);
    EXPECT_FALSE(u->has_urlauth);
}

TEST(ImapUrl, PartialWithoutLength) {
    auto u = parse_imap_url("imap://h/INBOX/;UID=3/;PARTIAL=0");
    ASSERT_TRUE(u);
    ASSERT_TRUE(u->partial);
    EXPECT_EQ(u->partial->first, 0u);
    EXPECT_FALSE(u->partial->second);
    EXPECT_TRUE(u->user.empty());
}

TEST(ImapUrl, RefusesMalformed) {
    for (const std::string& bad : std::vector<std::string>{
             "",
             "imap://",
             "imaps://h/INBOX/;UID=1",
             "http://h/INBOX/;UID=1",
             "imap://h",
             "imap://h/INBOX",                  // no UID: a mailbox, not a message
             "imap://h/INBOX/;UID=0",           // nz-number
             "imap://h/INBOX/;UID=4294967296",  // over 32 bits
             "imap://h/INBOX/;UID=1x",
             "imap://h/INBOX;UIDVALIDITY=0/;UID=1",
             "imap://h/;UID=1",  // empty mailbox
             "imap://h:/INBOX/;UID=1",
             "imap://h:0/INBOX/;UID=1",
             "imap://h:65536/INBOX/;UID=1",
             "imap://[::1/INBOX/;UID=1",
             "imap://a b@h/INBOX/;UID=1",           // space
             "imap://h/IN\"BOX/;UID=1",             // quote
             "imap://h/INBOX/;UID=1\r\nA1 LOGOUT",  // command injection
             "imap://h/IN%0D%0ABOX/;UID=1",         // decoded CR LF
             "imap://h/IN%2/;UID=1",                // bad escape
             "imap://h/IN%zzBOX/;UID=1",
             "imap://h/INBOX/;UID=1;urlauth=submit+a",               // no verifier
             "imap://h/INBOX/;UID=1;urlauth=submit+a:internal:abc",  // short token
             "imap://h/INBOX/;UID=1;urlauth=:internal:" + std::string(32, 'a'),
             "imap://h/INBOX/;UID=1;urlauth=submit+a:internal:" + std::string(31, 'a') + "g",
             "imap://h/INBOX/;UID=1;EXPIRE=;urlauth=submit+a:internal:" + std::string(32, 'a'),
             "imap://h/INBOX/;UID=1/;SECTION=",
             "imap://h/INBOX/;UID=1/;PARTIAL=1.0",
             "imap://h/INBOX/;UID=1;garbage",
             "imap://u;AUTH=@h/INBOX/;UID=1",
             "imap://u;x=y@h/INBOX/;UID=1",
             "imap://h/INBOX/;UID=1\xc3\xa9",
         }) {
        EXPECT_FALSE(parse_imap_url(bad)) << bad;
    }
}

TEST(ImapUrl, HostIsLowerCased) {
    auto u = parse_imap_url("imap://IMAP.Example.ORG/INBOX/;UID=5");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "imap.example.org");
}

TEST(ImapSection, OnlyWhatCanGoInsideBodyPeekBrackets) {
    for (std::string_view ok : {"", "1", "1.2.MIME", "HEADER", "TEXT",
                                "HEADER.FIELDS (SUBJECT X_Mailer)", "HEADER.FIELDS.NOT (DATE)"}) {
        EXPECT_TRUE(is_sendable_section(ok)) << ok;
    }
    for (std::string_view bad :
         {"1]", "1] UID 2", "TEXT)(", "(SUBJECT", "HEADER\r\nA1 LOGOUT", "{5}", "\"x\"", "1\x80"}) {
        EXPECT_FALSE(is_sendable_section(bad)) << bad;
    }
}

TEST(ImapMailbox, ModifiedUtf7) {
    EXPECT_EQ(imap_mailbox("INBOX"), "INBOX");
    EXPECT_EQ(imap_mailbox("Tom & Jerry"), "Tom &- Jerry");
    // RFC 3501 section 5.1.3's example: "~peter/mail/台北/日本語".
    EXPECT_EQ(
        imap_mailbox("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"),
        "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
    EXPECT_EQ(imap_mailbox("Entw\xc3\xbc rfe"), "Entw&APw- rfe");
    EXPECT_EQ(imap_mailbox("\xf0\x9f\x98\x80"), "&2D3eAA-");  // a surrogate pair
    EXPECT_FALSE(imap_mailbox("bad\xc3"));
    EXPECT_FALSE(imap_mailbox("\xc0\xaf"));      // overlong
    EXPECT_FALSE(imap_mailbox("\xed\xa0\x80"));  // a surrogate
    EXPECT_FALSE(imap_mailbox("tab\there"));
}

}  // namespace
}  // namespace submitd::imap
