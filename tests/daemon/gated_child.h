// Children for the recorder tests: started first, then released once the recorder watches them
// (so that nothing they do escapes it), and reaped.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace warden::testing {

// Writes all of `s` to `fd`.
inline bool Say(int fd, const std::string& s) {
  return write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
}

// A child that waits for a byte on the returned pipe, then runs `body` and exits with its result.
template <typename F>
pid_t Gated(int* go, F body) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[1]);
    char b;
    if (read(p[0], &b, 1) != 1) _exit(10);
    _exit(body());
  }
  close(p[0]);
  *go = p[1];
  return pid;
}

// The child's exit status, 100 + the signal that killed it, or -1.
inline int Reap(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

}  // namespace warden::testing
