#include "plugins/plugin_file_checks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace faust {
namespace {

constexpr uid_t kRootUid = 0;

Error unsafe(std::string message) { return Error{ExitCode::kPluginUnsafePermissions, std::move(message)}; }

// "group-", "world-" or "group- and world-" writable, with the chmod argument that fixes it;
// empty when neither bit is set.
struct WritableBy {
  std::string what;
  std::string chmod_argument;
};

WritableBy writable_by(mode_t mode) {
  const bool group = (mode & S_IWGRP) != 0;
  const bool world = (mode & S_IWOTH) != 0;
  if (group && world) return {"group- and world-writable", "go-w"};
  if (group) return {"group-writable", "g-w"};
  if (world) return {"world-writable", "o-w"};
  return {};
}

bool trusted_owner(uid_t owner, uid_t running_user) { return owner == kRootUid || owner == running_user; }

}  // namespace

Status check_plugin_permissions(const std::filesystem::path& file, const FileOwnership& file_ownership,
                                const std::filesystem::path& dir, const FileOwnership& dir_ownership,
                                uid_t running_user) {
  const std::string file_name = file.string();
  const std::string dir_name = dir.string();
  if (!trusted_owner(file_ownership.owner, running_user)) {
    return unsafe("plugin " + file_name + " is owned by uid " + std::to_string(file_ownership.owner) +
                  ", neither root nor the user running faust-host (uid " + std::to_string(running_user) +
                  "); refusing to load it (fix: chown " + std::to_string(running_user) + " " + file_name +
                  ")");
  }
  if (WritableBy writable = writable_by(file_ownership.mode); !writable.what.empty()) {
    return unsafe("plugin " + file_name + " is " + writable.what + "; refusing to load it (fix: chmod " +
                  writable.chmod_argument + " " + file_name + ")");
  }
  if (!trusted_owner(dir_ownership.owner, running_user)) {
    return unsafe("plugin " + file_name + ": its directory " + dir_name + " is owned by uid " +
                  std::to_string(dir_ownership.owner) +
                  ", neither root nor the user running faust-host (uid " + std::to_string(running_user) +
                  "); refusing to load it (fix: chown " + std::to_string(running_user) + " " + dir_name +
                  ")");
  }
  const bool sticky = (dir_ownership.mode & S_ISVTX) != 0;
  if (WritableBy writable = writable_by(dir_ownership.mode); !writable.what.empty() && !sticky) {
    return unsafe("plugin " + file_name + ": its directory " + dir_name + " is " + writable.what +
                  " and not sticky; refusing to load it (fix: chmod " + writable.chmod_argument + " " +
                  dir_name + ")");
  }
  return ok_status();
}

Status check_plugin_permissions(const std::filesystem::path& file) {
  const std::filesystem::path dir =
      file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  struct stat file_stat {};
  struct stat dir_stat {};
  if (::stat(file.c_str(), &file_stat) != 0) {
    return Error{ExitCode::kPluginMissing, "plugin " + file.string() + ": " + std::strerror(errno)};
  }
  if (::stat(dir.c_str(), &dir_stat) != 0) {
    return Error{ExitCode::kPluginMissing,
                 "plugin " + file.string() + ": directory " + dir.string() + ": " + std::strerror(errno)};
  }
  return check_plugin_permissions(file, FileOwnership{file_stat.st_uid, file_stat.st_mode}, dir,
                                  FileOwnership{dir_stat.st_uid, dir_stat.st_mode}, ::geteuid());
}

Status check_elf_header(const std::filesystem::path& file) {
  static constexpr std::array<char, 4> kElfMagic{'\x7f', 'E', 'L', 'F'};
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Error{ExitCode::kPluginNotSharedObject, "plugin " + file.string() + ": cannot read it"};
  }
  std::array<char, 4> magic{};
  in.read(magic.data(), magic.size());
  if (in.gcount() != static_cast<std::streamsize>(magic.size()) || magic != kElfMagic) {
    return Error{ExitCode::kPluginNotSharedObject,
                 "plugin " + file.string() + " is not a shared object (no ELF header)"};
  }
  return ok_status();
}

}  // namespace faust
