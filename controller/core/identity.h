// Who is calling: established by the API layer from the mTLS client certificate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace warden {

struct Identity {
  std::string user;  // an operator's name, or "host/HOST_ID" for an enrolled host
  std::vector<std::string> groups;
  std::string host_id;  // set for hosts only
  int64_t expires = 0;  // the client certificate's notAfter
  std::string host_kind;  // for hosts: "host" (wardend) or "gateway" (warden-sshgw)
  int tier = 0;           // for hosts: the tier it enrolled in
};

}  // namespace warden
