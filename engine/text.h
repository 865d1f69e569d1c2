// UTF-8 checks for text that crosses a trust boundary: request fields, captions from scraped
// sidecars, member names. Protobuf string fields, JSON (nlohmann throws on invalid UTF-8 when it
// dumps) and the usage records all need valid UTF-8, so text is checked or cleaned where it
// enters, never where it is written out.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace imprint {

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool is_valid_utf8(std::string_view s);

// At most `max_bytes` of `s`, cut on a character boundary, with every byte that is not part of a
// well-formed sequence replaced by U+FFFD. The result is valid UTF-8.
std::string utf8_prefix(std::string_view s, size_t max_bytes);

}  // namespace imprint
