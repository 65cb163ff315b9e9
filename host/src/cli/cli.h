#pragma once

namespace faust {

// The faust-host command line: `worker` (default), `check` and `send`, like `faust worker` and
// `faust send`. Returns the process exit code.
int run_cli(int argc, char** argv);

}  // namespace faust
