#include "daemon/enforcer.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "common/strings.h"

namespace warden {
namespace {

// Live (not zombie) pids whose real, effective or saved uid is `uid`.
std::vector<pid_t> ProcessesOf(uint32_t uid) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  const pid_t self = getpid();
  while (dirent* e = readdir(d)) {
    pid_t pid = 0;
    if (!ParseInt(std::string_view(e->d_name), &pid) || pid <= 1 || pid == self) continue;
    std::ifstream status(StrCat("/proc/", e->d_name, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      // A zombie is already dead; only its parent's wait() removes it.
      if (line.rfind("State:", 0) == 0 && line.find('Z') != std::string::npos) break;
      if (line.rfind("Uid:", 0) != 0) continue;
      const std::string ids = line.substr(4);
      auto fields = StrSplit(ids, '\t', true);
      for (size_t i = 0; i < fields.size() && i < 3; i++) {
        uint32_t v = 0;
        if (ParseInt(StripSpaces(fields[i]), &v) && v == uid) {
          out.push_back(pid);
          break;
        }
      }
      break;
    }
  }
  closedir(d);
  return out;
}

}  // namespace

int KillUidProcesses(uint32_t uid, int64_t grace_ms) {
  std::set<pid_t> signalled;
  for (int round = 0; round < 20; round++) {
    std::vector<pid_t> pids = ProcessesOf(uid);
    if (pids.empty()) break;
    for (pid_t p : pids) {
      kill(p, SIGTERM);
      signalled.insert(p);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
    while (std::chrono::steady_clock::now() < deadline && !ProcessesOf(uid).empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (pid_t p : ProcessesOf(uid)) {
      kill(p, SIGKILL);
      signalled.insert(p);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return static_cast<int>(signalled.size());
}

absl::Status CreateHome(const std::string& home, uint32_t uid, uint32_t gid) {
  if (mkdir(home.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(StrCat("cannot create ", home, ": ", strerror(errno)));
  }
  struct stat st {};
  if (lstat(home.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(StrCat(home, " exists and is not a directory"));
  }
  if (st.st_uid != uid) {
    // Freshly created by us (owned by root, empty) or someone else's: only the former is taken.
    if (st.st_uid != 0 || st.st_nlink != 2) {
      return absl::FailedPreconditionError(StrCat(home, " already belongs to uid ", st.st_uid));
    }
    if (lchown(home.c_str(), uid, gid) != 0 || chmod(home.c_str(), 0700) != 0) {
      return absl::UnavailableError(StrCat("cannot hand ", home, " to uid ", uid, ": ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> RemoveHome(const std::string& home, uint32_t uid) {
  struct stat st {};
  if (lstat(home.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return absl::UnavailableError(StrCat("cannot inspect ", home, ": ", strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != uid) {
    return absl::FailedPreconditionError(
        StrCat(home, " is not a directory owned by uid ", uid, "; left in place"));
  }
  const int rc = nftw(
      home.c_str(),
      [](const char* path, const struct stat*, int type, struct FTW*) {
        return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
      },
      32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (rc != 0) return absl::UnavailableError(StrCat("cannot remove ", home, ": ", strerror(errno)));
  return true;
}

}  // namespace warden
