// The one exception type of the core: its message names the file and the
// tensor, key or line at fault, so a user can act on it.
#pragma once

#include <stdexcept>
#include <string>

namespace calm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace calm
