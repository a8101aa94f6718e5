// `calm serve`: the HTTP server (app/serve/) from the command line.
#pragma once

#include <string>
#include <vector>

namespace calm::cli {

extern const char* const kServeUsage;
int cmd_serve(const std::vector<std::string>& argv);

}  // namespace calm::cli
