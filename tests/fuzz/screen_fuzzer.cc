// Fuzzes the replay of an RDP session's screen (cli/screen.h ScreenReplay), which draws what a
// recording says: the input is a RecordingEvents message; every Screen event is applied.
// Invariants: the screen buffer always holds exactly width*height*4 bytes, no side is above
// kMaxScreenSide, and a screen can always be written as a PNG once one was drawn.
#include <cstddef>
#include <cstdint>

#include "cli/screen.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warden::v1::RecordingEvents events;
  if (!events.ParseFromArray(data, static_cast<int>(size))) return 0;
  warden::cli::ScreenReplay screen;
  bool drawn = false;
  for (const auto& ev : events.events()) {
    if (!ev.has_screen()) continue;
    drawn = screen.Apply(ev.screen()).ok() || drawn;
    if (screen.bgrx().size() != static_cast<size_t>(screen.width()) * screen.height() * 4 ||
        screen.width() > warden::cli::kMaxScreenSide || screen.height() > warden::cli::kMaxScreenSide)
      __builtin_trap();
  }
  if (drawn && !screen.Png().ok()) __builtin_trap();
  return 0;
}
