#pragma once

#include <string>
#include <string_view>

namespace faust {

// Text from a manifest or the command line, made fit for a one-line error message: control
// characters become C-style escapes ("\n", "\t", "\x1b"), so a quoted value can neither break the
// message's line nor drive the terminal. Everything else, UTF-8 included, stays as written.
inline std::string printable(std::string_view text) {
  constexpr std::string_view kHexDigits = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\x";
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0xf];
    }
  }
  return out;
}

}  // namespace faust
