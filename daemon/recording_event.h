// A recorded session as wardend's core builds it: the events the kernel capture reports, the
// session's description, and the chunks the spool cuts for the controller. On the upload stream
// they are RecordingEvent / SessionInfo / RecordingChunk (proto/warden/v1/recording.proto);
// daemon/proto_convert.h converts, and encodes a chunk's events (the format common/recording.h
// defines: one RecordingEvents message, one LZ4 frame).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"

namespace warden {

// What the terminal showed (the pty master's reads) / what was typed (its writes).
struct TerminalOutput {
  std::string data;
};
struct TerminalInput {
  std::string data;
};
// Typed at a password prompt: this many bytes withheld.
struct InputRedacted {
  uint32_t bytes = 0;
};
struct TerminalResize {
  uint32_t cols = 0, rows = 0;
};
struct ExecEvent {
  int32_t pid = 0;
  uint32_t uid = 0;
  std::string filename;
  std::vector<std::string> argv;
  std::string cwd;
  uint32_t argv_bytes = 0;      // the whole argv's size
  bool argv_truncated = false;  // argv holds only the first bytes the kernel copies
};
// This many data bytes were lost here (ring buffer full, or the host's memory bound).
struct DataGap {
  uint64_t bytes = 0;
};
// A line typed while the terminal was canonical without echo, ended by Enter.
struct RedactedLine {
  uint32_t bytes = 0;   // its length, the terminator not counted
  uint32_t number = 0;  // 1, 2, 3, ... in the session
  int32_t pid = 0;      // a process of the terminal's foreground group: who read it
  std::string comm, exe;
};
// This many other events (execs, resizes, redaction markers) were lost here.
struct LostEvents {
  uint64_t count = 0;
};
// wardend flagged the session here.
struct SessionAlert {
  std::string kind;  // redaction_limit
  std::string message;
};

// An RDP session's screen (warden-rdpgw): a rectangle as the target drew it, 32-bit B G R X
// pixels row after row, one zstd frame; a keyframe band is part of a whole screen.
struct ScreenRect {
  uint32_t x = 0, y = 0, width = 0, height = 0;
  uint32_t desktop_width = 0, desktop_height = 0;
  bool keyframe = false;
  std::string pixels_zstd;
};
// An RDP session's input (proto RdpInput): kind 0 key, 1 unicode key, 2 mouse button or wheel.
struct RdpInputEvent {
  uint32_t kind = 0, flags = 0, code = 0, x = 0, y = 0;
};

struct RecordingEvent {
  int64_t offset_ns = 0;  // from the session's start
  uint32_t terminal = 0;  // 0: the connection's first pty; for an exec, the one it ran on
  std::variant<TerminalOutput, TerminalInput, InputRedacted, TerminalResize, ExecEvent, DataGap,
               RedactedLine, LostEvents, SessionAlert, ScreenRect, RdpInputEvent>
      kind;
};

struct SessionInfo {
  std::string user, service, tty, rhost, grant_id;
  int64_t started_unix_ns = 0;
};

struct RecordingChunk {
  std::string session_id;
  uint64_t seq = 0;                    // 1, 2, 3, ... per session
  std::string events_zstd;             // the encoded events (EncodeEvents)
  std::optional<SessionInfo> session;  // on seq 1
  bool final = false;                  // the session ended; no chunk follows
  int64_t ended_unix_ns = 0;           // on the final chunk
  uint64_t lost_bytes = 0;             // on the final chunk: the session's total
};

// A chunk's payload from its events, in the recording format; the spool's only contact with it.
using EncodeEvents = std::function<absl::StatusOr<std::string>(const std::vector<RecordingEvent>&)>;

}  // namespace warden
