#pragma once

#include <string>
#include <string_view>

#include "faust/plugin.h"

namespace faust {

// Copies `message` into a plugin-facing error buffer: NUL-terminated, truncated so it never ends
// inside a UTF-8 sequence. A null buffer is ignored.
void write_error(faust_error* error, std::string_view message) noexcept;

// The message a plugin wrote, read defensively (the plugin may not have terminated it);
// "(no message)" when it wrote nothing.
std::string read_error(const faust_error& error);

}  // namespace faust
