#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.h"
#include "manifest/manifest.h"

namespace faust::isolation {

// A library file as it is on disk: replaced, rewritten or touched, it compares unequal.
struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t modified_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
// Nothing when the file cannot be read.
std::optional<FileStamp> stamp_of(const std::filesystem::path& file);

// What an isolated agent's children run: its plugin's file (as it was when checked) and its
// manifest entry's config.
struct AgentVersion {
  std::filesystem::path library_file;
  std::optional<FileStamp> stamp;
  ConfigMap config;
};

// The versions the isolated agents of one worker run, for a reload (SIGHUP): the reload offers
// each agent the library file and config its manifest entry names now, and a changed version is
// started in a child process of its own and checked (the library loads and is ABI compatible,
// it provides the agent, the instance is created with the config) before it becomes the agent's
// current one. Each lane then swaps to it before its next call (IsolatedAgent), so a message is
// handled by exactly one version. Thread-safe: offers come from the reload, lanes read.
class AgentVersions {
 public:
  enum class Outcome { kUnchanged, kSwapped, kRefused };
  struct Offered {
    Outcome outcome = Outcome::kUnchanged;
    std::string plugin;  // the agent's plugin, as the running version names it
    std::string why;     // kRefused: why the new version was refused
  };

  // Makes `library_file` with `config` agent `name`'s current version once it passed its checks;
  // kUnchanged when the current one is that already (same path, same file, same config), or when
  // `name` is no isolated agent of this worker. Blocks while the new version's child starts.
  Offered offer(const std::string& name, const std::filesystem::path& library_file, const ConfigMap& config);
  // The plugin agent `name` runs; empty when it is no isolated agent of this worker.
  std::string plugin_of(const std::string& name);

  // One isolated agent: its current version, published with a number its lanes compare before
  // each call (one atomic load on the way of every message), and how a new version is checked.
  struct Agent {
    std::atomic<std::uint64_t> number{0};
    mutable std::mutex mutex;
    std::shared_ptr<const AgentVersion> current;  // under mutex
    std::string plugin;
    // Starts a child of the version and creates the instance there, then lets it go.
    std::function<Status(const AgentVersion&)> check;
  };
  // The record of agent `name`, made by its first lane with `first` as its version and `check`.
  std::shared_ptr<Agent> join(const std::string& name, std::string plugin, AgentVersion first,
                              std::function<Status(const AgentVersion&)> check);

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Agent>> agents_;
};

}  // namespace faust::isolation
