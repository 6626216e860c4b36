#include "cli/replay.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/recording.h"
#include "common/strings.h"

namespace warden::cli {
namespace {

using nlohmann::json;

// Length of the UTF-8 sequence a byte starts; 0 for a continuation or invalid byte.
size_t SequenceLength(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return 2;
  if (c >= 0xe0 && c <= 0xef) return 3;
  if (c >= 0xf0 && c <= 0xf4) return 4;
  return 0;
}

double Seconds(int64_t ns) { return std::round(static_cast<double>(ns) / 1e3) / 1e6; }

std::string Truncation(const v1::Exec& x) {
  if (!x.argv_truncated()) return "";
  size_t kept = 0;
  for (const std::string& a : x.argv()) kept += a.size() + 1;
  return StrCat(" [argv truncated: ", kept, " of ", x.argv_bytes(), " bytes recorded]");
}

std::string LostEvents(uint64_t n) {
  return StrCat(n, " events lost here (programs run, resizes or redaction markers: the "
                   "kernel's ring buffer was full)");
}

std::string Marker(const v1::RecordingEvent& ev) {
  std::string m;
  if (ev.has_exec()) {
    m = StrCat("exec: ", StrJoin(ev.exec().argv(), " "), Truncation(ev.exec()));
  } else if (ev.has_input_redacted()) {
    m = StrCat("input redacted (", ev.input_redacted(), " bytes)");
  } else if (ev.has_gap()) {
    m = StrCat("gap: ", ev.gap(), " bytes lost");
  } else if (ev.has_redacted_line()) {
    const v1::RedactedLine& l = ev.redacted_line();
    m = StrCat("redacted line ", l.number(), " (", l.bytes(), " bytes) read by ",
               l.comm().empty() ? "?" : l.comm(), " (pid ", l.pid(),
               l.exe().empty() ? "" : StrCat(", ", l.exe()), ")");
  } else if (ev.has_lost_events()) {
    m = LostEvents(ev.lost_events());
  } else if (ev.has_alert()) {
    m = StrCat("ALERT ", ev.alert().kind(), ": ", ev.alert().message());
  }
  if (!m.empty() && ev.terminal() != 0) m = StrCat("terminal ", ev.terminal(), ": ", m);
  return m;
}

// Screen and keystroke events belong to one terminal; the rest to the session.
bool OfTerminal(const v1::RecordingEvent& ev) {
  return ev.has_output() || ev.has_input() || ev.has_input_redacted() || ev.has_resize();
}

class Asciicast : public ReplayWriter {
 public:
  Asciicast(std::ostream& out, const v1::SessionSummary& s, uint32_t cols, uint32_t rows)
      : out_(out) {
    json header = {{"version", 2}, {"width", cols}, {"height", rows},
                   {"timestamp", s.session().started_unix_ns() / 1'000'000'000},
                   {"title", StrCat(s.session().user(), "@", s.session().host_id(), " ",
                                    s.session_id())},
                   {"env", {{"TERM", "xterm-256color"}}}};
    out_ << header.dump() << "\n";
  }
  void Event(const v1::RecordingEvent& ev) override {
    const double t = Seconds(ev.offset_ns());
    if (ev.has_output()) {
      Line(t, "o", output_.Take(ev.output()));
    } else if (ev.has_input()) {
      Line(t, "i", input_.Take(ev.input()));
    } else if (ev.has_resize()) {
      Line(t, "r", StrCat(ev.resize().cols(), "x", ev.resize().rows()));
    } else {
      Line(t, "m", Marker(ev));
    }
    last_ = t;
  }
  void Finish() override {
    Line(last_, "o", output_.Flush());
    Line(last_, "i", input_.Flush());
  }

 private:
  void Line(double t, const char* code, const std::string& data) {
    if (data.empty()) return;
    out_ << json::array({t, code, data}).dump(-1, ' ', false, json::error_handler_t::replace)
         << "\n";
  }
  std::ostream& out_;
  Utf8Joiner output_, input_;
  double last_ = 0;
};

class Text : public ReplayWriter {
 public:
  explicit Text(std::ostream& out) : out_(out) {}
  void Event(const v1::RecordingEvent& ev) override {
    if (ev.has_gap()) {
      line_ += StrCat("[warden: ", ev.gap(), " bytes lost here]");
      return;
    }
    if (ev.has_lost_events() || ev.has_redacted_line() || ev.has_alert()) {
      line_ += StrCat("[warden: ", Marker(ev), "]");
      return;
    }
    if (!ev.has_output()) return;
    for (unsigned char c : ev.output()) Byte(c);
  }
  void Finish() override {
    if (!line_.empty()) out_ << line_ << "\n";
  }

 private:
  enum class State { kText, kEsc, kEscArg, kCsi, kString, kStringEsc };

  void Byte(unsigned char c) {
    switch (state_) {
      case State::kText:
        if (c == 0x1b) {
          state_ = State::kEsc;
        } else if (c == '\n') {
          out_ << line_ << "\n";
          line_.clear();
        } else if (c == '\b') {
          // Backspace: drop the last character (all of its UTF-8 bytes).
          while (!line_.empty() && (static_cast<unsigned char>(line_.back()) & 0xc0) == 0x80)
            line_.pop_back();
          if (!line_.empty()) line_.pop_back();
        } else if (c == '\t' || c >= 0x20) {
          line_ += static_cast<char>(c);
        }
        return;
      case State::kEsc:
        if (c == '[') {
          state_ = State::kCsi;
        } else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
          state_ = State::kString;  // OSC, DCS, SOS, PM, APC: up to BEL or ESC backslash
        } else if (c >= 0x20 && c <= 0x2f) {
          state_ = State::kEscArg;  // e.g. ESC ( B: one more byte
        } else {
          state_ = State::kText;
        }
        return;
      case State::kEscArg:
        state_ = State::kText;
        return;
      case State::kCsi:
        if (c >= 0x40 && c <= 0x7e) state_ = State::kText;
        return;
      case State::kString:
        if (c == 0x07) state_ = State::kText;
        if (c == 0x1b) state_ = State::kStringEsc;
        return;
      case State::kStringEsc:
        state_ = c == '\\' ? State::kText : State::kString;
        return;
    }
  }

  std::ostream& out_;
  std::string line_;
  State state_ = State::kText;
};

class Raw : public ReplayWriter {
 public:
  explicit Raw(std::ostream& out) : out_(out) {}
  void Event(const v1::RecordingEvent& ev) override {
    if (ev.has_output()) out_ << ev.output();
  }

 private:
  std::ostream& out_;
};

class Commands : public ReplayWriter {
 public:
  explicit Commands(std::ostream& out) : out_(out) {}
  void Event(const v1::RecordingEvent& ev) override {
    if (!ev.has_exec() && !ev.has_lost_events()) return;
    char offset[32];
    snprintf(offset, sizeof offset, "%10.3fs", Seconds(ev.offset_ns()));
    if (ev.has_lost_events()) {
      out_ << offset << "  [warden: " << LostEvents(ev.lost_events()) << "]\n";
      return;
    }
    const v1::Exec& x = ev.exec();
    out_ << offset << "  pid " << x.pid() << "  uid " << x.uid();
    if (ev.terminal() != 0) out_ << "  terminal " << ev.terminal();
    out_ << "  " << x.cwd() << "  " << StrJoin(x.argv(), " ") << Truncation(x) << "\n";
  }

 private:
  std::ostream& out_;
};

class Play : public ReplayWriter {
 public:
  Play(std::ostream& out, PlayOptions o, std::function<void(double)> sleep)
      : out_(out), o_(o), sleep_(std::move(sleep)) {}
  void Event(const v1::RecordingEvent& ev) override {
    if (!ev.has_output()) return;
    const double t = static_cast<double>(ev.offset_ns()) / 1e9;
    if (t >= o_.from_s) {
      double wait = (t - std::max(last_, o_.from_s)) / o_.speed;
      if (o_.max_idle_s > 0) wait = std::min(wait, o_.max_idle_s);
      if (wait > 0.001) {
        out_.flush();
        sleep_(wait);
      }
    }
    out_ << ev.output();
    last_ = t;
  }
  void Finish() override { out_.flush(); }

 private:
  std::ostream& out_;
  const PlayOptions o_;
  std::function<void(double)> sleep_;
  double last_ = 0;
};

}  // namespace

std::string Utf8Joiner::Take(std::string_view bytes) {
  std::string s = std::move(held_);
  held_.clear();
  s.append(bytes);
  // Hold back a trailing sequence that has started but not finished (at most 3 bytes).
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xc0) == 0x80) continue;  // continuation: look further back
    const size_t want = SequenceLength(c);
    if (want > back) {
      held_ = s.substr(n - back);
      s.resize(n - back);
    }
    break;
  }
  return s;
}

std::string Utf8Joiner::Flush() { return std::exchange(held_, ""); }

std::unique_ptr<ReplayWriter> AsciicastWriter(std::ostream& out, const v1::SessionSummary& s,
                                              uint32_t cols, uint32_t rows) {
  return std::make_unique<Asciicast>(out, s, cols, rows);
}
std::unique_ptr<ReplayWriter> TextWriter(std::ostream& out) { return std::make_unique<Text>(out); }
std::unique_ptr<ReplayWriter> RawWriter(std::ostream& out) { return std::make_unique<Raw>(out); }
std::unique_ptr<ReplayWriter> CommandsWriter(std::ostream& out) {
  return std::make_unique<Commands>(out);
}
std::unique_ptr<ReplayWriter> Player(std::ostream& out, PlayOptions o,
                                     std::function<void(double)> sleep) {
  return std::make_unique<Play>(out, o, std::move(sleep));
}

absl::Status Replay(const std::vector<v1::RecordingChunk>& chunks, ReplayWriter& w,
                    uint32_t terminal) {
  for (const v1::RecordingChunk& c : chunks) {
    auto events = DecompressEvents(c.events_zstd());
    if (!events.ok()) {
      return absl::DataLossError(StrCat("chunk ", c.seq(), " of ", c.session_id(),
                                        " cannot be read: ", events.status().message()));
    }
    for (const v1::RecordingEvent& ev : events->events()) {
      if (!OfTerminal(ev) || ev.terminal() == terminal) w.Event(ev);
    }
  }
  w.Finish();
  return absl::OkStatus();
}

uint32_t TerminalCount(const std::vector<v1::RecordingChunk>& chunks) {
  uint32_t n = 1;
  for (const v1::RecordingChunk& c : chunks) {
    auto events = DecompressEvents(c.events_zstd());
    if (!events.ok()) continue;  // Replay reports it
    for (const v1::RecordingEvent& ev : events->events()) {
      if (ev.has_output()) n = std::max(n, ev.terminal() + 1);
    }
  }
  return n;
}

v1::Resize FirstSize(const std::vector<v1::RecordingChunk>& chunks, uint32_t terminal) {
  v1::Resize size;
  size.set_cols(80);
  size.set_rows(24);
  for (const v1::RecordingChunk& c : chunks) {
    auto events = DecompressEvents(c.events_zstd());
    if (!events.ok()) continue;  // Replay reports it
    for (const v1::RecordingEvent& ev : events->events()) {
      if (!OfTerminal(ev) || ev.terminal() != terminal) continue;
      if (ev.has_resize()) return ev.resize();
      if (ev.has_output()) return size;  // drawn before any resize: the default it is
    }
  }
  return size;
}

}  // namespace warden::cli
