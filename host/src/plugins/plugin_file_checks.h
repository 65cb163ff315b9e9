#pragma once

#include <sys/types.h>

#include <filesystem>

#include "common/result.h"

namespace faust {

// The parts of stat(2) the permission check looks at.
struct FileOwnership {
  uid_t owner = 0;
  mode_t mode = 0;
};

// Refuses to load code others could have replaced, as OpenSSH's StrictModes does: the file must be
// owned by root or `running_user` and not group- or world-writable; its directory must be owned
// by root or `running_user` and not group- or world-writable unless sticky (like /tmp).
// Fails with kPluginUnsafePermissions and a message saying what is wrong and the command that
// fixes it.
Status check_plugin_permissions(const std::filesystem::path& file, const FileOwnership& file_ownership,
                                const std::filesystem::path& dir, const FileOwnership& dir_ownership,
                                uid_t running_user);

// Same, for a file on disk and the effective user of this process.
Status check_plugin_permissions(const std::filesystem::path& file);

// Fails with kPluginNotSharedObject unless the file starts with the ELF magic, so a stray text
// file gets our message rather than the dynamic loader's.
Status check_elf_header(const std::filesystem::path& file);

}  // namespace faust
