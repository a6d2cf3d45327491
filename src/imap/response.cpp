// IMAP4rev1 responses (see response.hpp), RFC 3501 section 9:
//
//   response       = *(continue-req / response-data) response-done
//   continue-req   = "+" SP (resp-text / base64) CRLF
//   response-data  = "*" SP (resp-cond-state / resp-cond-bye / mailbox-data /
//                    message-data / capability-data) CRLF
//   response-tagged = tag SP resp-cond-state CRLF
//   resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
//   resp-text      = ["[" resp-text-code "]" SP] text
//   message-data   = nz-number SP ("EXPUNGE" / ("FETCH" SP msg-att))
//   msg-att        = "(" (msg-att-dynamic / msg-att-static)
//                    *(SP (msg-att-dynamic / msg-att-static)) ")"
//   literal        = "{" number "}" CRLF *CHAR8      (literal8: "~{" number "}", RFC 3516)
//
// and RFC 4467 section 7: "URLFETCH" 1*(SP url SP nstring), the URL an
// astring (Cyrus quotes it, Dovecot sends an atom when it can).
//
// A line piece is read up to its CRLF; a piece that ends in a literal header
// is followed by the literal's bytes and another piece. Status responses and
// continuations are text to the end of the line, never literals: a "{5}"
// echoed at the end of "a3 NO Mailbox doesn't exist: x{5}" (the mailbox comes
// from the BURL URL, so from the SMTP client) must not make the parser eat
// the next five bytes.
#include "imap/response.hpp"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

namespace submitd::imap {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/// RFC 3501: tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR is ATOM-CHAR
/// or "]", ATOM-CHAR any 7-bit CHAR but atom-specials.
bool is_tag_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    return std::string_view("(){%*\"\\+").find(c) == std::string_view::npos;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    for (const char c : s) {
        if (!is_digit(c)) return std::nullopt;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

/// The first word of `s` (up to a space) and what follows it, the space
/// included.
std::pair<std::string_view, std::string_view> first_word(std::string_view s) {
    const std::size_t sp = s.find(' ');
    if (sp == std::string_view::npos) return {s, {}};
    return {s.substr(0, sp), s.substr(sp)};
}

void add_capabilities(std::vector<std::string>& list, std::string_view words) {
    while (!words.empty()) {
        const std::size_t sp = words.find(' ');
        const std::string_view word = words.substr(0, sp);
        if (!word.empty() && list.size() < max_capabilities) list.push_back(to_upper(word));
        if (sp == std::string_view::npos) break;
        words.remove_prefix(sp + 1);
    }
}

/// RFC 3501: "BODY" section ["<" number ">"], the section and origin the
/// target asks for.
bool is_target_body(std::string_view attribute, const data_target& target) {
    if (attribute.size() < 6 || !iequals(attribute.substr(0, 5), "BODY[")) return false;
    const std::size_t close = attribute.find(']', 5);
    if (close == std::string_view::npos) return false;
    if (!iequals(attribute.substr(5, close - 5), target.section)) return false;
    const std::string_view origin = attribute.substr(close + 1);
    if (origin.empty()) return !target.origin.has_value();
    if (origin.size() < 3 || origin.front() != '<' || origin.back() != '>') return false;
    const auto n = parse_u64(origin.substr(1, origin.size() - 2));
    return n.has_value() && target.origin == n;
}

}  // namespace

std::string to_upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

std::optional<std::uint32_t> parse_number(std::string_view s) {
    if (s.size() > 10) return std::nullopt;
    const auto v = parse_u64(s);
    if (!v || *v > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    return static_cast<std::uint32_t>(*v);
}

void response_parser::reset() {
    current_ = response{};
    error_.clear();
    failed_ = false;
    complete_ = false;
    fresh_ = true;
    started_ = false;
    line_.clear();
    text_bytes_ = 0;
    literal_left_ = 0;
    in_literal_ = false;
    role_ = literal_role::skip;
    sink_ = nullptr;
    context_ = context::other;
    depth_ = 0;
    list_seen_ = false;
    list_closed_ = false;
    expect_name_ = true;
    nested_value_ = false;
    attribute_.clear();
    expect_url_ = true;
    url_.reset();
    literal_value_.clear();
}

response response_parser::take() {
    return std::move(current_);
}

parse_result response_parser::parse(std::string_view in) {
    if (failed_) return {0, parse_status::bad_input};
    if (complete_) reset();
    std::size_t used = 0;
    for (;;) {
        if (in_literal_) {
            const std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(literal_left_, in.size() - used));
            if (sink_ != nullptr) sink_->append(in.substr(used, n));
            used += n;
            literal_left_ -= n;
            if (literal_left_ > 0) return {used, parse_status::need_more};
            in_literal_ = false;
            on_literal_end();
            continue;
        }
        if (used == in.size()) return {used, parse_status::need_more};
        if (fresh_) {
            target_ = next_target_;
            fresh_ = false;
        }

        // The response's text outside literals is at most max_line bytes; the
        // CR of a CRLF may stand one past it until its LF arrives. Checked as
        // bytes arrive, so a line without an end cannot grow the buffer.
        const std::string_view rest = in.substr(used);
        const std::size_t lf = rest.find('\n');
        const std::size_t before_lf =
            line_.size() + (lf == std::string_view::npos ? rest.size() : lf);
        const std::size_t room = limits_.max_line - text_bytes_;
        char last = '\0';  // the byte before the LF, or the last byte so far
        if (lf == std::string_view::npos) {
            last = rest.back();
        } else if (lf > 0) {
            last = rest[lf - 1];
        } else if (!line_.empty()) {
            last = line_.back();
        }
        if (before_lf > room && (before_lf - room > 1 || last != '\r')) {
            fail("a response line longer than " + std::to_string(limits_.max_line) + " bytes");
            return {used, parse_status::bad_input};
        }
        const std::size_t take = lf == std::string_view::npos ? rest.size() : lf + 1;
        line_.append(rest.substr(0, take));
        used += take;
        if (lf == std::string_view::npos) return {used, parse_status::need_more};

        if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
            fail("a line that does not end with CRLF");
            return {used, parse_status::bad_input};
        }
        const std::string piece = line_.substr(0, line_.size() - 2);
        line_.clear();
        if (piece.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            fail("a CR, LF or NUL inside a line");
            return {used, parse_status::bad_input};
        }
        text_bytes_ += piece.size();
        const bool ok = started_ ? tokens(piece) : begin(piece);
        if (!ok) return {used, parse_status::bad_input};
        if (in_literal_) continue;
        if (!finish()) return {used, parse_status::bad_input};
        complete_ = true;
        return {used, parse_status::complete};
    }
}

bool response_parser::fail(std::string why) {
    error_ = std::move(why);
    failed_ = true;
    in_literal_ = false;
    sink_ = nullptr;
    line_.clear();
    return false;
}

// The first piece: the kind of response, its tag or name, then either the
// status text or the tokens of its data.
bool response_parser::begin(std::string_view piece) {
    started_ = true;
    if (piece.empty()) return fail("an empty line");
    if (piece.front() == '+') {
        current_.type = response_type::continuation;
        std::string_view text = piece.substr(1);
        if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        current_.text = std::string(text);
        return true;
    }
    if (piece.starts_with("* ")) {
        current_.type = response_type::untagged;
        auto [word, rest] = first_word(piece.substr(2));
        if (word.empty()) return fail("an untagged response without a name");
        if (is_digit(word.front())) {
            // message-data and EXISTS/RECENT: nz-number SP name
            current_.number = parse_number(word);
            if (!current_.number) return fail("a bad message number");
            std::tie(word, rest) = first_word(rest.empty() ? rest : rest.substr(1));
            if (word.empty()) return fail("a message number without a name");
        }
        for (const char c : word) {
            if (!is_tag_char(c) && c != '\\' && c != '+') return fail("a bad response name");
        }
        current_.name = to_upper(word);
        if (!current_.number) {
            static constexpr std::pair<std::string_view, status_word> words[] = {
                {"OK", status_word::ok},           {"NO", status_word::no},
                {"BAD", status_word::bad},         {"BYE", status_word::bye},
                {"PREAUTH", status_word::preauth},
            };
            for (const auto& [w, s] : words) {
                if (current_.name == w) {
                    current_.status = s;
                    return status_text(rest);
                }
            }
            if (current_.name == "CAPABILITY") context_ = context::capability;
            if (current_.name == "URLFETCH") context_ = context::urlfetch;
        } else if (current_.name == "FETCH") {
            context_ = context::fetch;
        }
        return tokens(rest);
    }
    current_.type = response_type::tagged;
    const auto [tag, rest] = first_word(piece);
    if (tag.empty()) return fail("a bad tag");
    for (const char c : tag) {
        if (!is_tag_char(c)) return fail("a bad tag");
    }
    current_.tag = std::string(tag);
    const auto [word, text] = first_word(rest.empty() ? rest : rest.substr(1));
    const std::string status = to_upper(word);
    if (status == "OK") {
        current_.status = status_word::ok;
    } else if (status == "NO") {
        current_.status = status_word::no;
    } else if (status == "BAD") {
        current_.status = status_word::bad;
    } else {
        return fail("a tagged response that is not OK, NO or BAD");
    }
    return status_text(text);
}

// resp-text = ["[" resp-text-code "]" SP] text, after the status word.
// Lenient: the SP before the text may be missing, and a "[" without its "]"
// is text.
bool response_parser::status_text(std::string_view rest) {
    if (!rest.empty()) rest.remove_prefix(1);  // the SP
    current_.text = std::string(rest);
    if (rest.starts_with("[")) {
        const std::size_t close = rest.find(']');
        if (close != std::string_view::npos) {
            const auto [code, args] = first_word(rest.substr(1, close - 1));
            current_.code = to_upper(code);
            current_.code_args = std::string(args.empty() ? args : args.substr(1));
            if (current_.code == "CAPABILITY") add_capabilities(current_.capabilities, args);
        }
    }
    return true;
}

// The tokens of a piece: SP, "(", ")", quoted strings, a literal header (only
// at the end of the piece) and atoms. In a FETCH attribute name, "[" opens a
// section that runs to "]" whatever it holds (BODY[HEADER.FIELDS (FROM)]).
bool response_parser::tokens(std::string_view piece) {
    std::size_t i = 0;
    while (i < piece.size()) {
        const char c = piece[i];
        if (c == ' ') {
            ++i;
            continue;
        }
        if (c == '(' || c == ')') {
            if (!(c == '(' ? on_open() : on_close())) return false;
            ++i;
            continue;
        }
        if (c == '"') {
            // quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR = <any TEXT-CHAR
            // except quoted-specials> / "\" quoted-specials
            std::string value;
            std::size_t j = i + 1;
            for (; j < piece.size() && piece[j] != '"'; ++j) {
                if (piece[j] == '\\') {
                    if (j + 1 >= piece.size() || (piece[j + 1] != '\\' && piece[j + 1] != '"'))
                        return fail("a bad escape in a quoted string");
                    ++j;
                }
                value += piece[j];
            }
            if (j >= piece.size()) return fail("an unterminated quoted string");
            if (!on_string(value, false)) return false;
            i = j + 1;
            continue;
        }
        if (c == '{' || (c == '~' && i + 1 < piece.size() && piece[i + 1] == '{')) {
            const std::size_t open = c == '~' ? i + 1 : i;
            const std::size_t close = piece.find('}', open);
            if (close == std::string_view::npos) return fail("a bad literal header");
            const auto size = parse_u64(piece.substr(open + 1, close - open - 1));
            if (!size) return fail("a bad literal header");
            if (close + 1 != piece.size()) return fail("a literal header not at the end of a line");
            return on_literal_header(*size);
        }
        const bool sections = context_ == context::fetch && depth_ == 1 && expect_name_;
        std::size_t j = i;
        while (j < piece.size() && piece[j] != ' ' && piece[j] != '(' && piece[j] != ')') {
            const auto u = static_cast<unsigned char>(piece[j]);
            if (piece[j] == '[' && sections) {
                const std::size_t close = piece.find(']', j + 1);
                if (close == std::string_view::npos) return fail("an unterminated section");
                j = close + 1;
                continue;
            }
            if (u < 0x20 || u == 0x7f || piece[j] == '"' || piece[j] == '{')
                return fail("a bad character in an atom");
            ++j;
        }
        const std::string_view atom = piece.substr(i, j - i);
        if (!(iequals(atom, "NIL") ? on_string({}, true) : on_atom(atom))) return false;
        i = j;
    }
    return true;
}

bool response_parser::is_data_position() const {
    switch (context_) {
        case context::fetch:
            return target_.what == data_target::kind::fetch && depth_ == 1 && !expect_name_ &&
                   is_target_body(attribute_, target_);
        case context::urlfetch:
            return target_.what == data_target::kind::urlfetch && depth_ == 0 && !expect_url_ &&
                   url_ == target_.url;
        default:
            return false;
    }
}

void response_parser::set_data(data_state state, std::uint64_t size) {
    current_.data = state;
    current_.data_size = size;
    if (state != data_state::value) current_.octets.clear();
}

// A value at depth 1 of a FETCH, or at depth 0 of a URLFETCH, is complete.
void response_parser::value_done() {
    if (context_ == context::fetch && depth_ == 1) expect_name_ = true;
    if (context_ == context::urlfetch && depth_ == 0) {
        if (expect_url_) {
            expect_url_ = false;
        } else {
            expect_url_ = true;
            url_.reset();
        }
    }
}

// FETCH data is exactly one list whose depth-1 items alternate name, value.
bool response_parser::check_fetch_value() {
    if (context_ != context::fetch) return true;
    if (list_closed_) return fail("FETCH data after its list");
    if (depth_ == 0) return fail("FETCH data that is not a list");
    if (depth_ == 1 && expect_name_) return fail("a FETCH attribute name that is not an atom");
    return true;
}

bool response_parser::on_open() {
    if (context_ == context::fetch) {
        if (list_closed_) return fail("FETCH data after its list");
        if (depth_ == 0) {
            list_seen_ = true;
        } else if (depth_ == 1) {
            if (expect_name_) return fail("a FETCH attribute name that is not an atom");
            nested_value_ = true;
        }
    }
    if (context_ == context::urlfetch && depth_ == 0 && expect_url_)
        return fail("a URLFETCH URL that is not a string");
    ++depth_;
    return true;
}

bool response_parser::on_close() {
    if (depth_ == 0) return fail("unbalanced parentheses");
    --depth_;
    if (context_ == context::fetch) {
        if (depth_ == 0) {
            if (!expect_name_) return fail("a FETCH attribute without a value");
            list_closed_ = true;
        } else if (depth_ == 1 && nested_value_) {
            nested_value_ = false;
            value_done();
        }
    }
    if (context_ == context::urlfetch && depth_ == 0) value_done();
    return true;
}

bool response_parser::on_atom(std::string_view atom) {
    if (context_ == context::capability && depth_ == 0) {
        if (current_.capabilities.size() < max_capabilities)
            current_.capabilities.push_back(to_upper(atom));
        return true;
    }
    if (context_ == context::fetch) {
        if (list_closed_) return fail("FETCH data after its list");
        if (depth_ == 0) return fail("FETCH data that is not a list");
        if (depth_ == 1 && expect_name_) {
            attribute_ = std::string(atom);
            expect_name_ = false;
            return true;
        }
        if (depth_ == 1 && iequals(attribute_, "UID")) {
            current_.uid = parse_number(atom);
            if (!current_.uid) return fail("a bad UID");
        }
    }
    if (context_ == context::urlfetch && depth_ == 0 && expect_url_) url_ = std::string(atom);
    value_done();
    return true;
}

bool response_parser::on_string(std::string_view value, bool nil) {
    if (!check_fetch_value()) return false;
    if (is_data_position()) {
        if (nil) {
            set_data(data_state::nil, 0);
        } else if (value.size() > target_.max_size) {
            set_data(data_state::too_big, value.size());
        } else {
            current_.octets = std::string(value);
            set_data(data_state::value, value.size());
        }
    } else if (context_ == context::urlfetch && depth_ == 0 && expect_url_) {
        if (nil) return fail("a URLFETCH URL that is NIL");
        url_ = std::string(value);
    }
    value_done();
    return true;
}

bool response_parser::on_literal_header(std::uint64_t size) {
    if (!check_fetch_value()) return false;
    sink_ = nullptr;
    if (is_data_position()) {
        role_ = size > target_.max_size ? literal_role::too_big : literal_role::data;
        if (role_ == literal_role::data) {
            // Within the max_size the caller accepts: reserved whole, so
            // the octets are not copied as they grow.
            current_.octets.clear();
            current_.octets.reserve(static_cast<std::size_t>(size));
            sink_ = &current_.octets;
        }
    } else {
        if (size > limits_.max_other_literal) {
            return fail("a literal of " + std::to_string(size) + " bytes, over the limit of " +
                        std::to_string(limits_.max_other_literal));
        }
        role_ = literal_role::skip;
        if (context_ == context::urlfetch && depth_ == 0 && expect_url_) {
            role_ = literal_role::url;
            literal_value_.clear();
            sink_ = &literal_value_;
        }
    }
    literal_size_ = size;
    literal_left_ = size;
    in_literal_ = true;
    return true;
}

void response_parser::on_literal_end() {
    switch (role_) {
        case literal_role::data:
            set_data(data_state::value, literal_size_);
            break;
        case literal_role::too_big:
            set_data(data_state::too_big, literal_size_);
            break;
        case literal_role::url:
            url_ = std::move(literal_value_);
            literal_value_.clear();
            break;
        case literal_role::skip:
            break;
    }
    sink_ = nullptr;
    value_done();
}

bool response_parser::finish() {
    if (depth_ != 0) return fail("unbalanced parentheses");
    if (context_ == context::fetch && !list_seen_) return fail("FETCH without its list");
    if (context_ == context::urlfetch && !expect_url_) return fail("a URLFETCH URL without data");
    return true;
}

}  // namespace submitd::imap
