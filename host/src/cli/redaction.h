#pragma once

#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/sink.h>

namespace faust {

using Redaction = std::function<std::string(std::string_view)>;

// Wraps the log's real sink and passes every message through a redaction first, so no log line —
// the host's, a plugin's or librdkafka's — can carry a secret from the manifest. The redaction is
// set once the manifest is loaded; before that, messages pass unchanged.
class RedactingSink final : public spdlog::sinks::sink {
 public:
  explicit RedactingSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

  void set_redaction(Redaction redaction) {
    std::lock_guard lock(mutex_);
    redaction_ = std::move(redaction);
  }

  void log(const spdlog::details::log_msg& msg) override {
    Redaction redaction;
    {
      std::lock_guard lock(mutex_);
      redaction = redaction_;
    }
    if (!redaction) return inner_->log(msg);
    const std::string text = redaction(std::string_view(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg redacted = msg;
    redacted.payload = text;
    inner_->log(redacted);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
  std::mutex mutex_;
  Redaction redaction_;
};

// Redacts what a command prints on stdout and stderr, a line at a time (so output still appears as
// it happens), for as long as it lives.
class RedactedConsole {
 public:
  explicit RedactedConsole(Redaction redaction)
      : out_(std::cout, redaction), err_(std::cerr, std::move(redaction)) {}
  RedactedConsole(const RedactedConsole&) = delete;
  RedactedConsole& operator=(const RedactedConsole&) = delete;

 private:
  class LineBuffer final : public std::streambuf {
   public:
    LineBuffer(std::ostream& stream, Redaction redaction)
        : stream_(stream), inner_(stream.rdbuf(this)), redaction_(std::move(redaction)) {}
    ~LineBuffer() override {
      emit();
      stream_.rdbuf(inner_);
      inner_->pubsync();
    }
    LineBuffer(const LineBuffer&) = delete;
    LineBuffer& operator=(const LineBuffer&) = delete;

   protected:
    int_type overflow(int_type c) override {
      if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
      line_ += traits_type::to_char_type(c);
      if (line_.back() == '\n') emit();
      return c;
    }
    int sync() override {
      emit();
      return inner_->pubsync();
    }

   private:
    void emit() {
      if (line_.empty()) return;
      const std::string text = redaction_(line_);
      inner_->sputn(text.data(), static_cast<std::streamsize>(text.size()));
      line_.clear();
    }
    std::ostream& stream_;
    std::streambuf* inner_;
    Redaction redaction_;
    std::string line_;
  };

  LineBuffer out_;
  LineBuffer err_;
};

}  // namespace faust
