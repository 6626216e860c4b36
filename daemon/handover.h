// What one run of wardend hands to the next across a restart (apt-get upgrade, systemctl
// restart): the recorded sessions it gave up without ending them, frozen meanwhile, and the
// recording chunks the controller had not acknowledged. A file in /run beside the agent socket:
// memory, never the host's disk; written once on the way out, read and deleted once on the way
// in. Without it (wardend was killed, not stopped) the sessions of the last run are not taken up.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/config.h"
#include "daemon/host_agent.h"
#include "daemon/recording_event.h"
#include "daemon/session_recorder.h"

namespace warden {

struct Handover {
  struct Session {
    HostSession host;
    HandedSession recording;
  };
  std::vector<Session> sessions;
  std::vector<RecordingChunk> unacked;  // in the order they were cut
};

// dirname(agent_socket)/recordings.handover
std::string HandoverPath(const HostConfig& config);
absl::Status WriteHandover(const std::string& path, const Handover& h);
// The handover left at `path`, deleted as it is read; nullopt when there is none. A file that
// cannot be read is an error (and is deleted too: it is never read twice).
absl::StatusOr<std::optional<Handover>> TakeHandover(const std::string& path);

}  // namespace warden
