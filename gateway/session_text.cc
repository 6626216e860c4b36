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

}  // namespace warden
