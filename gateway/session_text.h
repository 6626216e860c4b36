// What warden-sshgw reads itself from untrusted bytes (the rest is libssh's SSH parsing and the
// controller's certificate checks): the user name an operator's client sends, and the terminal
// traffic it relays, in which it finds password prompts to redact the line typed after one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "daemon/recording_event.h"

namespace warden {

struct BrokerUser {
  std::string principal;  // the certificate's principal the operator logs in as
  std::string target;     // "" = the one the grant's role names
};

// "LOGIN@TARGET" or "LOGIN": at most 256 bytes; printable ASCII without spaces; one '@' at most.
absl::StatusOr<BrokerUser> ParseBrokerUser(std::string_view name);

// Keystrokes into recording events. After output that ends with a password prompt ("Password:",
// "passphrase:", "PIN:" ... at the end of the last line), the next line typed is withheld: its
// bytes are counted (InputRedacted) and its end is marked (RedactedLine); everything else typed
// is kept (TerminalInput); a line begun at a prompt stays withheld to its end whatever is printed
// meanwhile. `mode`: redact (default), full (or all: everything kept) or off
// (nothing kept).
class InputRecorder {
 public:
  explicit InputRecorder(std::string mode) : mode_(std::move(mode)) {}
  // What the target printed, in order.
  void Output(std::string_view data);
  // What the operator typed: the events to record, in order. `line_number` counts the session's
  // redacted lines (shared by its channels).
  std::vector<decltype(RecordingEvent::kind)> Input(std::string_view data, uint32_t* line_number);

  static bool EndsWithPasswordPrompt(std::string_view tail);

 private:
  const std::string mode_;
  std::string tail_;  // the last output bytes
  bool redacting_ = false;
  uint32_t redacted_bytes_ = 0;
};

}  // namespace warden
