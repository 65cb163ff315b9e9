#include "isolation/frame.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace faust::isolation {
namespace {

using namespace std::chrono_literals;

const Headers kHeaders = {{"trace", std::string("a\0b", 3)}, {"trace", ""}};

std::vector<IncomingMessage> sample_messages() {
  IncomingMessage keyed;
  keyed.key = std::string_view("key\0\xff", 5);
  keyed.value = "value";
  keyed.headers = kHeaders;
  keyed.topic = "orders";
  keyed.partition = 7;
  keyed.offset = (std::int64_t{1} << 40) + 3;
  keyed.timestamp_ms = -1;
  IncomingMessage unkeyed;  // no key, an empty value, no headers
  unkeyed.topic = "orders";
  unkeyed.partition = 7;
  unkeyed.offset = 0;
  IncomingMessage empty_key;  // a key that is empty is still a key
  empty_key.key = std::string_view();
  empty_key.value = std::string_view("\0", 1);
  empty_key.topic = "orders";
  return {keyed, unkeyed, empty_key};
}

std::string encoded(const std::vector<IncomingMessage>& messages) {
  std::string frame;
  FrameWriter out(frame, FrameType::kHandle);
  write_messages(out, messages);
  out.finish();
  return frame;
}

TEST(FrameTest, MessagesRoundTripWithTheirKeysHeadersAndPositions) {
  const std::vector<IncomingMessage> sent = sample_messages();
  const std::string frame = encoded(sent);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[4]), static_cast<std::uint8_t>(FrameType::kHandle));
  const std::uint32_t size = static_cast<unsigned char>(frame[0]) | static_cast<unsigned char>(frame[1]) << 8 |
                             static_cast<unsigned char>(frame[2]) << 16 | static_cast<unsigned char>(frame[3]) << 24;
  EXPECT_EQ(size, frame.size() - 4) << "the size counts the type byte and the payload";

  FrameReader in(std::string_view(frame).substr(kFrameHeaderSize));
  std::vector<IncomingMessage> received;
  std::vector<Headers> headers;
  ASSERT_TRUE(read_messages(in, received, headers));
  ASSERT_EQ(received.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(received[i].key.has_value(), sent[i].key.has_value());
    if (sent[i].key) {
      EXPECT_EQ(*received[i].key, *sent[i].key);
    }
    EXPECT_EQ(received[i].value, sent[i].value);
    EXPECT_EQ(Headers(received[i].headers.begin(), received[i].headers.end()),
              Headers(sent[i].headers.begin(), sent[i].headers.end()));
    EXPECT_EQ(received[i].topic, sent[i].topic);
    EXPECT_EQ(received[i].partition, sent[i].partition);
    EXPECT_EQ(received[i].offset, sent[i].offset);
    EXPECT_EQ(received[i].timestamp_ms, sent[i].timestamp_ms);
  }
}

TEST(FrameTest, EveryTruncationAndAnyTrailingByteIsRefused) {
  const std::string frame = encoded(sample_messages());
  const std::string_view payload = std::string_view(frame).substr(kFrameHeaderSize);
  std::vector<IncomingMessage> received;
  std::vector<Headers> headers;
  for (std::size_t size = 0; size < payload.size(); ++size) {
    FrameReader in(payload.substr(0, size));
    EXPECT_FALSE(read_messages(in, received, headers)) << "accepted " << size << " of " << payload.size() << " bytes";
  }
  const std::string longer = std::string(payload) + "x";
  FrameReader in(longer);
  EXPECT_FALSE(read_messages(in, received, headers));
  // A count no frame could hold is refused before anything is reserved for it.
  std::string huge;
  FrameWriter(huge, FrameType::kHandle).u32(0xffffffffU).finish();
  FrameReader huge_in(std::string_view(huge).substr(kFrameHeaderSize));
  EXPECT_FALSE(read_messages(huge_in, received, headers));
}

TEST(FrameTest, ScalarsRoundTrip) {
  std::string frame;
  FrameWriter(frame, FrameType::kMetric).u8(200).u32(0xdeadbeefU).i32(-5).i64(INT64_MIN).f64(-0.25).bytes("x").finish();
  FrameReader in(std::string_view(frame).substr(kFrameHeaderSize));
  EXPECT_EQ(in.u8(), 200);
  EXPECT_EQ(in.u32(), 0xdeadbeefU);
  EXPECT_EQ(in.i32(), -5);
  EXPECT_EQ(in.i64(), INT64_MIN);
  EXPECT_EQ(in.f64(), -0.25);
  EXPECT_EQ(in.bytes(), "x");
  EXPECT_TRUE(in.done());
  EXPECT_EQ(in.u8(), 0) << "past the end: zero";
  EXPECT_FALSE(in.ok());
}

class ChannelTest : public ::testing::Test {
 protected:
  ChannelTest() {
    int ends[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    reader_ = std::make_unique<Channel>(ends[0]);
    writer_ = ends[1];
  }
  ~ChannelTest() override {
    if (writer_ >= 0) ::close(writer_);
  }
  void write_raw(std::string_view bytes) { ASSERT_EQ(::write(writer_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size())); }

  std::unique_ptr<Channel> reader_;
  int writer_ = -1;
};

TEST_F(ChannelTest, ReadsFramesWrittenInPiecesAndSeveralAtOnce) {
  std::string two;
  FrameWriter(two, FrameType::kLog).u8(2).bytes("first").finish();
  FrameWriter(two, FrameType::kResult).u8(1).finish();
  std::string big;
  FrameWriter(big, FrameType::kReply).bytes(std::string(300 * 1024, 'b')).finish();
  std::thread writer([&] {
    for (std::size_t at = 0; at < big.size(); at += 7000) {
      write_raw(std::string_view(big).substr(at, 7000));
      std::this_thread::sleep_for(1ms);
    }
    write_raw(two);
  });
  Frame frame;
  ASSERT_EQ(reader_->read(frame, std::chrono::steady_clock::now() + 10s), Channel::Read::kFrame);
  EXPECT_EQ(frame.type, FrameType::kReply);
  EXPECT_EQ(frame.payload.size(), 4 + 300 * 1024u);
  ASSERT_EQ(reader_->read(frame, std::chrono::steady_clock::now() + 10s), Channel::Read::kFrame);
  EXPECT_EQ(frame.type, FrameType::kLog);
  EXPECT_EQ(frame.payload.substr(5), "first");
  ASSERT_EQ(reader_->read(frame), Channel::Read::kFrame);
  EXPECT_EQ(frame.type, FrameType::kResult);
  writer.join();
}

TEST_F(ChannelTest, SaysTimeoutClosedAndMalformed) {
  Frame frame;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(reader_->read(frame, started + 50ms), Channel::Read::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms);
  write_raw(std::string("\x01\x00\x00\x00\x63", 5));  // a frame of type 99
  EXPECT_EQ(reader_->read(frame, std::chrono::steady_clock::now() + 1s), Channel::Read::kMalformed);
}

TEST_F(ChannelTest, RefusesAFrameLargerThanTheLimitWithoutWaitingForIt) {
  write_raw(std::string("\x01\x00\x00\x41\x06", 5));  // 1 GiB + 1: over kMaxFrameSize
  Frame frame;
  EXPECT_EQ(reader_->read(frame, std::chrono::steady_clock::now() + 1s), Channel::Read::kMalformed);
}

TEST_F(ChannelTest, AClosedPeerEndsReadsAndFailsWrites) {
  std::string half;
  FrameWriter(half, FrameType::kResult).u8(1).finish();
  write_raw(std::string_view(half).substr(0, 3));
  ::close(writer_);
  writer_ = -1;
  Frame frame;
  EXPECT_EQ(reader_->read(frame, std::chrono::steady_clock::now() + 1s), Channel::Read::kClosed);
  EXPECT_FALSE(reader_->write(half).ok()) << "no SIGPIPE, an error";
}

}  // namespace
}  // namespace faust::isolation
