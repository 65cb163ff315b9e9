#pragma once

namespace faust::isolation {

// `faust-host plugin-runner --fd N`: the child process of an isolated agent instance, timer or
// service. Reads its kInit from the socket at `fd`, loads the plugin and creates the instance
// (answering kReady), then serves kHandle, kTick or kService frames until kShutdown or until the
// worker's end closes. Returns the process's exit code.
int run_plugin_runner(int fd);

}  // namespace faust::isolation
