// What warden-sshgw reads itself from untrusted bytes (the rest is libssh's SSH parsing and the
// controller's certificate checks): the user name an operator's client sends, and the terminal
// traffic it relays, in which it finds password prompts to redact the line typed after one.
#pragma once

#include <cstdint>
#include <map>
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

// What an SFTP session did, from the bytes relayed both ways (draft-ietf-secsh-filexfer-02, the
// version OpenSSH speaks): every file opened with the bytes read from and written to it, removes,
// renames, links, attribute changes (chmod, chown, times) and directories made or removed. The gateway records each as an exec event of its
// channel ("sftp write PATH 1234 bytes" ...), searchable with `wardenctl sessions --command`.
// Packets are reassembled across writes; a packet larger than kMaxSftpPacket, or a malformed
// one, stops the watch (reported once as "sftp unparsed") without touching the relay.
class SftpWatcher {
 public:
  static constexpr size_t kMaxSftpPacket = 256 * 1024;
  struct Action {
    std::vector<std::string> argv;  // {"write", path, "1234"}, {"rename", from, to}, ...
  };
  // Client -> server bytes (requests), server -> client bytes (responses); the actions completed.
  std::vector<Action> FromClient(std::string_view data);
  std::vector<Action> FromServer(std::string_view data);
  // Files still open when the channel ends, with what was moved so far.
  std::vector<Action> Close();

 private:
  struct Open {
    std::string path;
    bool write = false;
    uint64_t read = 0, written = 0;
  };
  std::vector<Action> Feed(std::string& buf, std::string_view data, bool client);
  void Request(std::string_view p, std::vector<Action>& out);
  void Response(std::string_view p, std::vector<Action>& out);
  static Action Done(const Open& o);

  std::string client_buf_, server_buf_;
  bool broken_ = false;
  // Request id -> the files being opened under it, in order (a client may reuse an id; the
  // server answers in order).
  std::map<uint32_t, std::vector<Open>> pending_opens_;
  std::map<uint32_t, std::string> pending_reads_;  // request id -> handle of a READ
  std::map<std::string, Open> handles_;         // handle -> open file
};

}  // namespace warden
