#include "gateway/session_text.h"

#include <cctype>

#include "common/strings.h"

namespace warden {

constexpr size_t kMaxUserBytes = 256;
constexpr size_t kPromptTail = 256;

absl::StatusOr<BrokerUser> ParseBrokerUser(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserBytes)
    return absl::InvalidArgumentError("the user name must be LOGIN@TARGET or LOGIN (1-256 bytes)");
  for (char ch : name) {
    if (ch <= ' ' || ch > '~')
      return absl::InvalidArgumentError("the user name holds a space or a control character");
  }
  const size_t at = name.find('@');
  BrokerUser u;
  u.principal = std::string(name.substr(0, at));
  if (at != std::string_view::npos) u.target = std::string(name.substr(at + 1));
  if (u.principal.empty() || (at != std::string_view::npos && u.target.empty()) ||
      u.target.find('@') != std::string::npos)
    return absl::InvalidArgumentError(StrCat("\"", name, "\" is not LOGIN@TARGET or LOGIN"));
  return u;
}

bool InputRecorder::EndsWithPasswordPrompt(std::string_view tail) {
  while (!tail.empty() && (tail.back() == ' ' || tail.back() == '\t')) tail.remove_suffix(1);
  if (tail.empty() || tail.back() != ':') return false;
  const size_t line = tail.find_last_of("\r\n");
  std::string last(line == std::string_view::npos ? tail : tail.substr(line + 1));
  for (char& ch : last) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  for (const char* word : {"password", "passphrase", "passcode", "pin"}) {
    if (last.find(word) != std::string::npos) return true;
  }
  return false;
}

void InputRecorder::Output(std::string_view data) {
  tail_.append(data);
  if (tail_.size() > kPromptTail) tail_.erase(0, tail_.size() - kPromptTail);
  // A line being typed at a prompt stays withheld to its end, whatever the target prints
  // meanwhile (a bell, a timeout notice): only a line not yet begun follows the prompts.
  if (redacted_bytes_ == 0) redacting_ = EndsWithPasswordPrompt(tail_);
}

std::vector<decltype(RecordingEvent::kind)> InputRecorder::Input(std::string_view data,
                                                                 uint32_t* line_number) {
  std::vector<decltype(RecordingEvent::kind)> out;
  if (mode_ == "off" || data.empty()) return out;
  if (mode_ == "full" || mode_ == "all" || !redacting_) {
    out.push_back(TerminalInput{std::string(data)});
    return out;
  }
  // Withheld up to Enter; what follows Enter in the same write is kept.
  const size_t end = data.find_first_of("\r\n");
  const size_t n = end == std::string_view::npos ? data.size() : end;
  if (n > 0) {
    out.push_back(InputRedacted{static_cast<uint32_t>(n)});
    redacted_bytes_ += static_cast<uint32_t>(n);
  }
  if (end == std::string_view::npos) return out;
  out.push_back(RedactedLine{redacted_bytes_, ++*line_number, 0, "", ""});
  redacting_ = false;
  redacted_bytes_ = 0;
  tail_.clear();
  if (end + 1 < data.size()) out.push_back(TerminalInput{std::string(data.substr(end + 1))});
  return out;
}

namespace {

// A bounds-checked reader of SFTP's big-endian fields.
class Reader {
 public:
  explicit Reader(std::string_view p) : p_(p) {}
  bool U8(uint8_t* v) {
    if (p_.size() < 1) return false;
    *v = static_cast<uint8_t>(p_[0]);
    p_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (p_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; i++) *v = (*v << 8) | static_cast<uint8_t>(p_[i]);
    p_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    uint32_t hi, lo;
    if (!U32(&hi) || !U32(&lo)) return false;
    *v = (static_cast<uint64_t>(hi) << 32) | lo;
    return true;
  }
  bool Str(std::string_view* v) {
    uint32_t n;
    if (!U32(&n) || n > p_.size()) return false;
    *v = p_.substr(0, n);
    p_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view p_;
};

// SFTP packet types (draft-ietf-secsh-filexfer-02).
constexpr uint8_t kFxpInit = 1, kFxpOpen = 3, kFxpClose = 4, kFxpRead = 5, kFxpWrite = 6,
                  kFxpSetstat = 9, kFxpFsetstat = 10, kFxpRemove = 13, kFxpMkdir = 14,
                  kFxpRmdir = 15, kFxpRename = 18, kFxpSymlink = 20, kFxpExtended = 200,
                  kFxpStatus = 101, kFxpHandle = 102, kFxpData = 103;
constexpr uint32_t kFxfWrite = 0x2;
// What is kept of names: a path is cut at this length in the recording.
constexpr size_t kMaxPath = 4096;
// Open files and requests in flight tracked at once: past these, the oldest are forgotten.
constexpr size_t kMaxTracked = 1024;

std::string Path(std::string_view p) { return std::string(p.substr(0, kMaxPath)); }

}  // namespace

SftpWatcher::Action SftpWatcher::Done(const Open& o) {
  if (o.write) return {{"write", o.path, std::to_string(o.written)}};
  return {{"read", o.path, std::to_string(o.read)}};
}

std::vector<SftpWatcher::Action> SftpWatcher::FromClient(std::string_view data) {
  return Feed(client_buf_, data, true);
}

std::vector<SftpWatcher::Action> SftpWatcher::FromServer(std::string_view data) {
  return Feed(server_buf_, data, false);
}

std::vector<SftpWatcher::Action> SftpWatcher::Close() {
  std::vector<Action> out;
  for (const auto& [h, o] : handles_) out.push_back(Done(o));
  handles_.clear();
  return out;
}

std::vector<SftpWatcher::Action> SftpWatcher::Feed(std::string& buf, std::string_view data,
                                                   bool client) {
  std::vector<Action> out;
  if (broken_) return out;
  buf.append(data);
  size_t at = 0;
  while (buf.size() - at >= 4) {
    uint32_t len = 0;
    Reader(std::string_view(buf).substr(at, 4)).U32(&len);
    if (len == 0 || len > kMaxSftpPacket) {
      broken_ = true;
      out.push_back({{"unparsed", client ? "a request" : "a response", std::to_string(len)}});
      buf.clear();
      return out;
    }
    if (buf.size() - at - 4 < len) break;
    const std::string_view packet = std::string_view(buf).substr(at + 4, len);
    if (client) {
      Request(packet, out);
    } else {
      Response(packet, out);
    }
    at += 4 + len;
  }
  buf.erase(0, at);
  // Bounded maps: a client that never closes what it opens cannot grow them.
  while (pending_opens_.size() > kMaxTracked) pending_opens_.erase(pending_opens_.begin());
  while (pending_reads_.size() > kMaxTracked) pending_reads_.erase(pending_reads_.begin());
  while (handles_.size() > kMaxTracked) {
    out.push_back(Done(handles_.begin()->second));
    handles_.erase(handles_.begin());
  }
  return out;
}

void SftpWatcher::Request(std::string_view p, std::vector<Action>& out) {
  Reader r(p);
  uint8_t type;
  uint32_t id;
  if (!r.U8(&type) || type == kFxpInit || !r.U32(&id)) return;
  std::string_view a, b;
  switch (type) {
    case kFxpOpen: {
      uint32_t flags;
      auto& queue = pending_opens_[id];
      if (r.Str(&a) && r.U32(&flags) && queue.size() < kMaxTracked)
        queue.push_back({Path(a), (flags & kFxfWrite) != 0, 0, 0});
      if (queue.empty()) pending_opens_.erase(id);
      return;
    }
    case kFxpRead:
      if (r.Str(&a)) pending_reads_[id] = std::string(a);
      return;
    case kFxpWrite: {
      uint64_t offset;
      auto it = r.Str(&a) && r.U64(&offset) && r.Str(&b) ? handles_.find(std::string(a)) : handles_.end();
      if (it != handles_.end()) {
        it->second.written += b.size();
        it->second.write = true;
      }
      return;
    }
    case kFxpClose: {
      auto it = r.Str(&a) ? handles_.find(std::string(a)) : handles_.end();
      if (it != handles_.end()) {
        out.push_back(Done(it->second));
        handles_.erase(it);
      }
      return;
    }
    case kFxpRemove:
      if (r.Str(&a)) out.push_back({{"remove", Path(a)}});
      return;
    case kFxpMkdir:
      if (r.Str(&a)) out.push_back({{"mkdir", Path(a)}});
      return;
    case kFxpRmdir:
      if (r.Str(&a)) out.push_back({{"rmdir", Path(a)}});
      return;
    case kFxpRename:
      if (r.Str(&a) && r.Str(&b)) out.push_back({{"rename", Path(a), Path(b)}});
      return;
    case kFxpSymlink:
      if (r.Str(&a) && r.Str(&b)) out.push_back({{"symlink", Path(a), Path(b)}});
      return;
    case kFxpSetstat:
      if (r.Str(&a)) out.push_back({{"setstat", Path(a)}});
      return;
    case kFxpFsetstat: {
      auto it = r.Str(&a) ? handles_.find(std::string(a)) : handles_.end();
      out.push_back({{"setstat", it != handles_.end() ? it->second.path : "(an unknown handle)"}});
      return;
    }
    case kFxpExtended: {
      // OpenSSH's extensions that change files; any other is recorded by name.
      std::string_view name;
      if (!r.Str(&name)) return;
      if ((name == "posix-rename@openssh.com" || name == "hardlink@openssh.com") && r.Str(&a) &&
          r.Str(&b)) {
        out.push_back({{name == "hardlink@openssh.com" ? "hardlink" : "rename", Path(a), Path(b)}});
      } else if (name != "statvfs@openssh.com" && name != "fstatvfs@openssh.com" &&
                 name != "limits@openssh.com" && name != "expand-path@openssh.com" &&
                 name != "fsync@openssh.com") {
        out.push_back({{"extension", Path(name)}});
      }
      return;
    }
    default:
      return;
  }
}

void SftpWatcher::Response(std::string_view p, std::vector<Action>&) {
  Reader r(p);
  uint8_t type;
  uint32_t id;
  if (!r.U8(&type) || !r.U32(&id)) return;
  std::string_view a;
  switch (type) {
    case kFxpHandle: {
      auto it = pending_opens_.find(id);
      if (it == pending_opens_.end()) return;
      if (r.Str(&a)) handles_[std::string(a)] = it->second.front();
      it->second.erase(it->second.begin());
      if (it->second.empty()) pending_opens_.erase(it);
      return;
    }
    case kFxpData: {
      auto it = pending_reads_.find(id);
      if (it == pending_reads_.end()) return;
      auto h = r.Str(&a) ? handles_.find(it->second) : handles_.end();
      if (h != handles_.end()) h->second.read += a.size();
      pending_reads_.erase(it);
      return;
    }
    case kFxpStatus: {
      // The oldest request under this id failed (or, for a read, ended).
      auto it = pending_opens_.find(id);
      if (it != pending_opens_.end()) {
        it->second.erase(it->second.begin());
        if (it->second.empty()) pending_opens_.erase(it);
      } else {
        pending_reads_.erase(id);
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace warden
