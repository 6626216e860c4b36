// What wardenctl makes of a session recording: asciicast v2 (for asciinema players), a plain-text
// transcript, the list of commands run, and real-time playback in this terminal.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "warden/v1/recording.pb.h"

namespace warden::cli {

// Splits a byte stream into complete UTF-8: what Take returns never ends inside a multibyte
// character (a character split across two events is joined); a sequence that can never complete
// is passed on as it is, for the consumer to replace.
class Utf8Joiner {
 public:
  std::string Take(std::string_view bytes);
  std::string Flush();  // whatever is left at the end

 private:
  std::string held_;
};

class ReplayWriter {
 public:
  virtual ~ReplayWriter() = default;
  virtual void Event(const v1::RecordingEvent& ev) = 0;
  virtual void Finish() {}
};

// asciicast v2: a header line, then [seconds, code, data] per event: "o" output, "i" input,
// "r" resize ("COLSxROWS"), "m" markers for commands run, redacted input and lines, gaps, lost
// events and alerts (those of another terminal named "terminal N: ..."). Invalid UTF-8
// becomes U+FFFD. `cols`/`rows` are the size at the start.
std::unique_ptr<ReplayWriter> AsciicastWriter(std::ostream& out, const v1::SessionSummary& s,
                                              uint32_t cols, uint32_t rows);
// The screen as text: terminal control sequences removed, CR LF as LF; gaps, lost events,
// redacted lines and alerts marked inline.
std::unique_ptr<ReplayWriter> TextWriter(std::ostream& out);
// Exactly the bytes the terminal received, as `script` would have saved them.
std::unique_ptr<ReplayWriter> RawWriter(std::ostream& out);
// One line per program run: offset, pid, uid, terminal (if not the first), working directory,
// argv (and how much of it the kernel did not copy); lost events are marked on their own line.
std::unique_ptr<ReplayWriter> CommandsWriter(std::ostream& out);

struct PlayOptions {
  double speed = 1.0;
  double max_idle_s = 0;  // 0: real pauses; otherwise no pause is longer than this
  double from_s = 0;      // jump: everything before this offset is drawn at once
  uint32_t terminal = 0;  // which of the session's terminals (see Replay)
};
// Writes the screen output to `out` at the recorded pace. `sleep` waits that many seconds (a
// test passes one that does not).
std::unique_ptr<ReplayWriter> Player(std::ostream& out, PlayOptions o,
                                     std::function<void(double)> sleep);

// Decompresses every chunk in order and feeds each event to `w`: of the screen and keystroke
// events (output, input, redacted input, resizes), those of terminal `terminal` only (a session
// multiplexed over one OpenSSH connection has several); every other event (programs run, gaps,
// redacted lines, alerts), whatever its terminal.
absl::Status Replay(const std::vector<v1::RecordingChunk>& chunks, ReplayWriter& w,
                    uint32_t terminal = 0);
// The size of terminal `terminal` at the start: its first resize in the recording, else 80x24.
v1::Resize FirstSize(const std::vector<v1::RecordingChunk>& chunks, uint32_t terminal = 0);
// How many terminals the recording has (1 + the highest terminal any screen output is on).
uint32_t TerminalCount(const std::vector<v1::RecordingChunk>& chunks);

}  // namespace warden::cli
