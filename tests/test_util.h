// Helpers shared by the tests: temporary directories and running real tools.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace warden::testing {

// What sshd does for a session: a new pty of rows x cols, and `argv` started on its slave side
// as a session leader with the pty as its controlling terminal. Returns the master and the
// child's pid (-1s on failure).
struct PtyChild {
  int master = -1;
  pid_t pid = -1;
};
inline PtyChild SpawnOnPty(const std::vector<std::string>& argv, unsigned short rows,
                           unsigned short cols) {
  PtyChild p;
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return p;
  winsize ws{};
  ws.ws_row = rows;
  ws.ws_col = cols;
  ioctl(master, TIOCSWINSZ, &ws);
  const std::string slave = ptsname(master);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    int fd = open(slave.c_str(), O_RDWR);
    if (fd < 0) _exit(126);
    ioctl(fd, TIOCSCTTY, 0);
    dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
    if (fd > 2) close(fd);
    close(master);
    execv(args[0], args.data());
    _exit(127);
  }
  if (pid < 0) {
    close(master);
    return p;
  }
  p.master = master;
  p.pid = pid;
  return p;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warden-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// Redirects this process's stderr (fd 2) into a file until Finish() or destruction; Finish()
// returns what was written meanwhile.
class StderrCapture {
 public:
  StderrCapture() : saved_(dup(2)) {
    fflush(stderr);
    const int fd = open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
  }
  ~StderrCapture() { Finish(); }
  std::string Finish() {
    if (saved_ >= 0) {
      fflush(stderr);
      dup2(saved_, 2);
      close(saved_);
      saved_ = -1;
    }
    return ReadAll(dir_ / "stderr");
  }

 private:
  TempDir dir_;
  int saved_;
};


// Reads `fd` (a terminal's master, say), appending to `seen`, until `want` has been seen (5 s at
// most). False on EOF or a read error, or if it never came.
inline bool ReadUntil(int fd, const std::string& want, std::string& seen) {
  for (int i = 0; i < 50 && seen.find(want) == std::string::npos; i++) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    seen.append(buf, static_cast<size_t>(n));
  }
  return seen.find(want) != std::string::npos;
}

// A step that waits, once entered, until the test lets it go.
class Gate {
 public:
  void Pass() {
    std::unique_lock lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void WaitEntered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void LetGo() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, open_ = false;
};

}  // namespace warden::testing
