#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/headers.h"
#include "common/result.h"
#include "plugins/incoming_message.h"

// The wire format between a worker and the child process that runs an isolated agent, timer or
// service (`faust-host plugin-runner`): length-prefixed binary frames over a Unix socketpair. Each
// handler call (a message or a batch, a tick, a service callback) is one frame, answered by one
// result frame; the child's
// host calls during it (send, is_leader, ...) are frames answered in turn, and what needs no answer
// (log lines, metric updates) rides along with the next frame the child writes.
namespace faust::isolation {

// A frame: u32 size of what follows (little endian), u8 type, payload. Integers are little endian;
// bytes are a u32 size and the bytes.
enum class FrameType : std::uint8_t {
  // worker -> child
  kInit = 1,   // u8 ComponentRef::Kind, library file, definition, entry, plugin, app id, lowest log level, config
  kHandle,     // agent: u8 batch, u32 count, the messages
  kReply,      // the answer to a kCall
  kShutdown,   // destroy the instance and exit
  // child -> worker
  kReady,      // u8 ok; ok: u8 flag (agent: handles batches; service: has lead); else u32 exit code, bytes message
  kResult,     // u8 ok; else bytes message
  kCall,       // u8 HostCall, its arguments
  kLog,        // u8 level, bytes message
  kMetric,     // u32 metric id, u8 MetricOp, f64 value
  // worker -> child
  kTick,       // timer: one tick
  kService,    // service: u8 ServiceCallback; elected: i32 generation, i64 established at (ms since the epoch)
};

enum class ServiceCallback : std::uint8_t { kStart = 1, kElected, kLead, kRevoked, kStop };

// A host-API call of the plugin that the worker answers.
enum class HostCall : std::uint8_t {
  kSend = 1,     // agent, topic, u8 has key, key, value, headers -> u8 ok, bytes error
  kAwaitSends,   // -> u8 ok, bytes error
  kIsLeader,     // -> u8 leader
  kWaitForStop,  // u32 timeout ms -> u8 stop
  kMetricCreate, // u8 kind, name, u8 has help, help, u32 count, f64 buckets -> u8 ok, u32 id | bytes error
  kStateGet,     // key -> u8 ok; ok: u8 found, value; else bytes error
  kStatePut,     // key, value -> u8 ok, bytes error
  kStateDelete,  // key -> u8 ok, bytes error
  kStateScan,    // prefix -> u8 ok; ok: u32 count, (key, value) each; else bytes error
};

enum class MetricOp : std::uint8_t { kAdd = 1, kSet };

inline constexpr std::size_t kFrameHeaderSize = 5;
// Far above any batch a lane holds by default (64 MiB), below what a u32 size can say.
inline constexpr std::uint32_t kMaxFrameSize = 1U << 30;

// Appends one frame to a buffer: the constructor writes its header, finish() its size.
class FrameWriter {
 public:
  FrameWriter(std::string& out, FrameType type);
  FrameWriter& u8(std::uint8_t value);
  FrameWriter& u32(std::uint32_t value);
  FrameWriter& i32(std::int32_t value) { return u32(static_cast<std::uint32_t>(value)); }
  FrameWriter& i64(std::int64_t value);
  FrameWriter& f64(double value);
  FrameWriter& bytes(std::string_view value);
  void finish();

 private:
  std::string& out_;
  std::size_t start_;
};

// Reads a frame's payload. A read past its end fails the reader for good (ok() turns false) and
// yields zeros and empty views, so a malformed frame is checked once, at the end.
class FrameReader {
 public:
  explicit FrameReader(std::string_view payload) : data_(payload) {}
  std::uint8_t u8();
  std::uint32_t u32();
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  std::int64_t i64();
  double f64();
  std::string_view bytes();
  bool ok() const { return ok_; }
  // Everything read, nothing left over.
  bool done() const { return ok_ && position_ == data_.size(); }

 private:
  std::string_view take(std::size_t size);

  std::string_view data_;
  std::size_t position_ = 0;
  bool ok_ = true;
};

// Messages for kHandle. Decoded messages are views into the payload and `headers`.
void write_messages(FrameWriter& out, std::span<const IncomingMessage> messages);
bool read_messages(FrameReader& in, std::vector<IncomingMessage>& messages, std::vector<Headers>& headers);

// A frame as read: its payload is valid until the next read.
struct Frame {
  FrameType type{};
  std::string_view payload;
};

// One end of the socketpair, owned. Writes never raise SIGPIPE.
class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel();

  // Writes all of `bytes`; fails when the other end is gone.
  Status write(std::string_view bytes);

  enum class Read { kFrame, kClosed, kTimeout, kMalformed };
  // Waits for the next frame until `deadline` (none: for ever). kClosed: the other end closed
  // (or reset) the connection; kMalformed: a frame larger than kMaxFrameSize or of no known type.
  Read read(Frame& frame, std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);
  int fd() const { return fd_; }

 private:
  int fd_;
  // Bytes read: [begin_, end_) not yet handed out as frames. Grown, never shrunk, and never
  // cleared byte by byte, so reading a small frame costs no more than the bytes it has.
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace faust::isolation
