// Broker URLs come from manifests and the command line. Any text must parse or give a one-line
// error; a parsed kafka:// URL must survive the trip through librdkafka's bootstrap.servers form.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "manifest/manifest.h"

namespace {

using faust::fuzz::require;

bool same_servers(const faust::BrokerUrl& a, const faust::BrokerUrl& b) {
  if (a.servers.size() != b.servers.size()) return false;
  for (std::size_t i = 0; i < a.servers.size(); ++i) {
    if (a.servers[i].host != b.servers[i].host || a.servers[i].port != b.servers[i].port) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const faust::Result<faust::BrokerUrl> url = faust::parse_broker_url(text);
  if (!url.ok()) {
    const std::string& message = url.error().message;
    require(url.error().code == faust::ExitCode::kManifestInvalid, "URL errors exit with kManifestInvalid",
            message);
    require(message.rfind("broker URL '", 0) == 0, "URL errors start with \"broker URL '\"", message);
    require(faust::fuzz::is_one_line(message), "URL errors are one line", message);
    return 0;
  }
  if (url->scheme == "memory") {
    require(url->servers.empty(), "memory:// has no servers");
    return 0;
  }
  require(url->scheme == "kafka", "the scheme is kafka or memory", url->scheme);
  require(!url->servers.empty(), "kafka:// has at least one server");
  for (const faust::BrokerAddress& server : url->servers) {
    require(!server.host.empty() && server.port >= 1, "servers have a host and a port 1..65535", server.host);
  }

  const std::string bootstrap = url->bootstrap_servers();
  const faust::Result<faust::BrokerUrl> again = faust::parse_broker_url("kafka://" + bootstrap);
  require(again.ok(), "kafka:// + bootstrap_servers() parses",
          again.ok() ? bootstrap : again.error().message);
  require(again->scheme == "kafka" && same_servers(*url, *again),
          "kafka:// + bootstrap_servers() gives the same servers", bootstrap);
  require(again->bootstrap_servers() == bootstrap, "bootstrap_servers() is stable", bootstrap);
  return 0;
}
