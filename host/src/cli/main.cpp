#include "cli/cli.h"

int main(int argc, char** argv) { return faust::run_cli(argc, argv); }
