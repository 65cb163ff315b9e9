#include "plugins/error_buffer.h"

#include <cstring>

namespace faust {

void write_error(faust_error* error, std::string_view message) noexcept {
  if (error == nullptr) return;
  std::size_t length = message.size();
  if (length >= FAUST_ERROR_MESSAGE_SIZE) {
    length = FAUST_ERROR_MESSAGE_SIZE - 1;
    // Back off over continuation bytes (10xxxxxx) and the lead byte they belong to.
    while (length > 0 && (static_cast<unsigned char>(message[length]) & 0xC0U) == 0x80U) --length;
  }
  std::memcpy(error->message, message.data(), length);
  error->message[length] = '\0';
}

std::string read_error(const faust_error& error) {
  const std::size_t length = strnlen(error.message, FAUST_ERROR_MESSAGE_SIZE);
  if (length == 0) return "(no message)";
  return std::string(error.message, length);
}

}  // namespace faust
