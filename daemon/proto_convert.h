// The one place wardend converts between the controller's and the PAM module's protobuf messages
// and the domain types its core takes (host_state.h, agent_call.h, recording_event.h,
// SessionControl in host_agent.h). Only the transport side (controller_link.cc, agent_server.cc,
// main.cc) includes this; the core library (wardend_core) does not link the generated messages,
// so a protobuf type there does not build.
#pragma once

#include <string>
#include <vector>

#include "common/inventory.h"
#include "common/status.h"
#include "daemon/agent_call.h"
#include "daemon/host_agent.h"
#include "daemon/host_state.h"
#include "daemon/local_password.h"
#include "daemon/recording_event.h"
#include "warden/v1/agent.pb.h"
#include "warden/v1/host.pb.h"
#include "warden/v1/recording.pb.h"

namespace warden {

// The watch stream's HostState (host.proto). Fields the core does not use (host_id, tier,
// krl_version, server_time_unix, an account's home: always home_root/login) are dropped.
HostState HostStateFromProto(const v1::HostState& in);
// The controller's word on a live session (an UploadAck with seq 0).
SessionControl SessionControlFromProto(const v1::SessionControl& in);

// A task of the controller (HostService.Tasks). INVALID_ARGUMENT: it names no kind of task
// this wardend knows (a newer controller's).
absl::StatusOr<LocalPasswordTask> HostTaskFromProto(const v1::HostTask& in);

// The local socket (agent.proto). An empty oneof becomes std::monostate.
AgentCall AgentCallFromProto(const v1::AgentRequest& in);
v1::AgentResponse AgentReplyToProto(const AgentReply& in);

v1::RecordingEvent RecordingEventToProto(const RecordingEvent& in);
// `inv` null: the inventory is unchanged, only logins are reported.
v1::InventoryReport InventoryReportToProto(const Inventory* inv, const std::vector<HostLogin>& logins);
v1::RecordingChunk RecordingChunkToProto(const RecordingChunk& in);
// A chunk handed over from the last run (daemon/handover.h): what RecordingChunkToProto made.
RecordingChunk RecordingChunkFromProto(const v1::RecordingChunk& in);
// A chunk's payload (common/recording.h): the events as one RecordingEvents message in an LZ4
// frame, compressed. The spool's EncodeEvents.
absl::StatusOr<std::string> EncodeRecordingEvents(const std::vector<RecordingEvent>& events);
// The spool's EncodeEvents for a host's `recording_compression`: `compress` false stores the
// frame's blocks as they are (no CPU spent compressing, about three times the bytes sent).
EncodeEvents RecordingEncoder(bool compress);

}  // namespace warden
