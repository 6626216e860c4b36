#include <termios.h>
#include <unistd.h>

#include <iostream>

#include "cli/commands/commands.h"

namespace warden::cli {

absl::Status Context::Open() {
  if (ch_) return absl::OkStatus();
  ASSIGN_OR_RETURN(p_, LoadProfile(g_.home));
  ASSIGN_OR_RETURN(ch_, Connect(p_, true));
  return absl::OkStatus();
}

// Reads a secret from the terminal without echo.
std::string Prompt(const std::string& label, bool secret) {
  std::cerr << label << ": " << std::flush;
  termios old{};
  const bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
  if (secret && tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (secret && tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::cerr << "\n";
  }
  return line;
}

}  // namespace warden::cli
