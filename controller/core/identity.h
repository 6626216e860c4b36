// Who is calling: established by the API layer from the mTLS client certificate.
#pragma once

#include <string>
#include <vector>

namespace warden {

struct Identity {
  std::string user;
  std::vector<std::string> groups;
};

}  // namespace warden
