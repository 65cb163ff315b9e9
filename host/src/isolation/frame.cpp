#include "isolation/frame.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace faust::isolation {
namespace {

// Bytes of a frame's size field.
constexpr std::size_t kSizeField = 4;
// What one read asks for at least: a batch arrives in few reads, a small frame in one.
constexpr std::size_t kReadChunk = 64 * 1024;

std::uint32_t load_u32(const char* at) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(at);
  return static_cast<std::uint32_t>(bytes[0]) | static_cast<std::uint32_t>(bytes[1]) << 8 |
         static_cast<std::uint32_t>(bytes[2]) << 16 | static_cast<std::uint32_t>(bytes[3]) << 24;
}

std::uint64_t load_u64(const char* at) {
  return static_cast<std::uint64_t>(load_u32(at)) | static_cast<std::uint64_t>(load_u32(at + 4)) << 32;
}

void append_u32(std::string& out, std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

bool known_type(std::uint8_t type) {
  return type >= static_cast<std::uint8_t>(FrameType::kInit) && type <= static_cast<std::uint8_t>(FrameType::kService);
}

}  // namespace

FrameWriter::FrameWriter(std::string& out, FrameType type) : out_(out), start_(out.size()) {
  append_u32(out_, 0);
  out_.push_back(static_cast<char>(type));
}

FrameWriter& FrameWriter::u8(std::uint8_t value) {
  out_.push_back(static_cast<char>(value));
  return *this;
}

FrameWriter& FrameWriter::u32(std::uint32_t value) {
  append_u32(out_, value);
  return *this;
}

FrameWriter& FrameWriter::i64(std::int64_t value) {
  const auto bits = static_cast<std::uint64_t>(value);
  append_u32(out_, static_cast<std::uint32_t>(bits & 0xffffffffU));
  append_u32(out_, static_cast<std::uint32_t>(bits >> 32));
  return *this;
}

FrameWriter& FrameWriter::f64(double value) {
  std::uint64_t bits = 0;
  static_assert(sizeof bits == sizeof value);
  std::memcpy(&bits, &value, sizeof bits);
  return i64(static_cast<std::int64_t>(bits));
}

FrameWriter& FrameWriter::bytes(std::string_view value) {
  append_u32(out_, static_cast<std::uint32_t>(value.size()));
  out_.append(value);
  return *this;
}

void FrameWriter::finish() {
  const auto size = static_cast<std::uint32_t>(out_.size() - start_ - kSizeField);
  for (std::size_t i = 0; i < kSizeField; ++i) out_[start_ + i] = static_cast<char>((size >> (8 * i)) & 0xff);
}

std::string_view FrameReader::take(std::size_t size) {
  if (!ok_ || data_.size() - position_ < size) {
    ok_ = false;
    return {};
  }
  const std::string_view taken = data_.substr(position_, size);
  position_ += size;
  return taken;
}

std::uint8_t FrameReader::u8() {
  const std::string_view at = take(1);
  return at.empty() ? 0 : static_cast<std::uint8_t>(at[0]);
}

std::uint32_t FrameReader::u32() {
  const std::string_view at = take(4);
  return at.empty() ? 0 : load_u32(at.data());
}

std::int64_t FrameReader::i64() {
  const std::string_view at = take(8);
  return at.empty() ? 0 : static_cast<std::int64_t>(load_u64(at.data()));
}

double FrameReader::f64() {
  const auto bits = static_cast<std::uint64_t>(i64());
  double value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

std::string_view FrameReader::bytes() { return take(u32()); }

void write_messages(FrameWriter& out, std::span<const IncomingMessage> messages) {
  out.u32(static_cast<std::uint32_t>(messages.size()));
  for (const IncomingMessage& message : messages) {
    out.u8(message.key ? 1 : 0);
    if (message.key) out.bytes(*message.key);
    out.bytes(message.value);
    out.u32(static_cast<std::uint32_t>(message.headers.size()));
    for (const auto& [key, value] : message.headers) out.bytes(key).bytes(value);
    out.bytes(message.topic).i32(message.partition).i64(message.offset).i64(message.timestamp_ms);
  }
}

bool read_messages(FrameReader& in, std::vector<IncomingMessage>& messages, std::vector<Headers>& headers) {
  const std::uint32_t count = in.u32();
  messages.clear();
  // Each message takes at least 33 bytes: a count larger than the frame is malformed, not a
  // reason to reserve gigabytes.
  if (!in.ok() || count == 0 || count > kMaxFrameSize / 33) return false;
  headers.resize(std::max<std::size_t>(headers.size(), count));
  messages.reserve(count);
  for (std::uint32_t i = 0; i < count && in.ok(); ++i) {
    IncomingMessage message;
    if (in.u8() != 0) message.key = in.bytes();
    message.value = in.bytes();
    Headers& own = headers[i];
    own.clear();
    const std::uint32_t header_count = in.u32();
    for (std::uint32_t h = 0; h < header_count && in.ok(); ++h) {
      const std::string_view key = in.bytes();
      const std::string_view value = in.bytes();
      own.emplace_back(std::string(key), std::string(value));
    }
    message.headers = own;
    message.topic = in.bytes();
    message.partition = in.i32();
    message.offset = in.i64();
    message.timestamp_ms = in.i64();
    messages.push_back(message);
  }
  return in.done();
}

Channel::~Channel() {
  if (fd_ >= 0) ::close(fd_);
}

Status Channel::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      return Error{ExitCode::kFailure, std::string("write to the plugin process: ") + std::strerror(errno)};
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return ok_status();
}

Channel::Read Channel::read(Frame& frame, std::optional<std::chrono::steady_clock::time_point> deadline) {
  while (true) {
    const std::size_t available = end_ - begin_;
    std::size_t wanted = kFrameHeaderSize;
    if (available >= kFrameHeaderSize) {
      const std::uint32_t size = load_u32(buffer_.data() + begin_);
      const auto type = static_cast<std::uint8_t>(buffer_[begin_ + kSizeField]);
      if (size == 0 || size > kMaxFrameSize || !known_type(type)) return Read::kMalformed;
      wanted = kSizeField + size;
      if (available >= wanted) {
        frame.type = static_cast<FrameType>(type);
        frame.payload = std::string_view(buffer_.data() + begin_ + kFrameHeaderSize, size - 1);
        begin_ += wanted;
        return Read::kFrame;
      }
    }
    // Room for the rest of this frame, and a chunk more, after what is kept.
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, available);
      end_ = available;
      begin_ = 0;
    }
    const std::size_t room = std::max(wanted - available, kReadChunk);
    if (buffer_.size() < end_ + room) buffer_.resize(end_ + room);

    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
      pollfd waiting{fd_, POLLIN, 0};
      const int ready = ::poll(&waiting, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) return Read::kTimeout;
    }
    const ssize_t got = ::recv(fd_, buffer_.data() + end_, buffer_.size() - end_, 0);
    if (got > 0) {
      end_ += static_cast<std::size_t>(got);
      continue;
    }
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return Read::kClosed;  // 0: an orderly close; otherwise ECONNRESET and the like
  }
}

}  // namespace faust::isolation
