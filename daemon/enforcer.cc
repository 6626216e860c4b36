#include "daemon/enforcer.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "common/strings.h"

namespace warden {
namespace {

// Live (not zombie) pids whose real, effective or saved uid is one of `uids`, with that uid. An
// error if /proc cannot be read (EMFILE, ...): "found nothing" must never stand in for "could
// not look".
absl::StatusOr<std::vector<std::pair<pid_t, uint32_t>>> ProcessesOf(const std::set<uint32_t>& uids) {
  std::vector<std::pair<pid_t, uint32_t>> out;
  DIR* d = opendir("/proc");
  if (!d) return absl::ErrnoToStatus(errno, "cannot list /proc");
  const pid_t self = getpid();
  while (dirent* e = readdir(d)) {
    pid_t pid = 0;
    if (!ParseInt(std::string_view(e->d_name), &pid) || pid <= 1 || pid == self) continue;
    std::ifstream status(StrCat("/proc/", e->d_name, "/status"));
    if (!status) {
      if (errno == ENOENT || errno == ESRCH) continue;  // exited meanwhile
      const int err = errno;
      closedir(d);
      return absl::ErrnoToStatus(err, StrCat("cannot read /proc/", e->d_name, "/status"));
    }
    std::string line;
    while (std::getline(status, line)) {
      // A zombie is already dead; only its parent's wait() removes it.
      if (line.rfind("State:", 0) == 0 && line.find('Z') != std::string::npos) break;
      if (line.rfind("Uid:", 0) != 0) continue;
      const std::string ids = line.substr(4);
      auto fields = StrSplit(ids, '\t', true);
      for (size_t i = 0; i < fields.size() && i < 3; i++) {
        uint32_t v = 0;
        if (ParseInt(StripSpaces(fields[i]), &v) && uids.count(v)) {
          out.emplace_back(pid, v);
          break;
        }
      }
      break;
    }
  }
  closedir(d);
  return out;
}

// The mount a directory entry (or, with name "", the open directory itself) belongs to. Mount
// ids, not device numbers: a bind mount of the same file system has the home's st_dev.
absl::StatusOr<uint64_t> MountId(int dir, const char* name) {
  struct statx stx {};
  if (statx(dir, name, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH), STATX_MNT_ID, &stx) != 0) {
    return absl::ErrnoToStatus(errno, "statx");
  }
  if (!(stx.stx_mask & STATX_MNT_ID)) {
    return absl::FailedPreconditionError("the kernel does not report mount ids (Linux >= 5.8)");
  }
  return stx.stx_mnt_id;
}

// Removes every entry of the open directory `dir` (on mount `mnt`), depth first, through
// descriptors only: a name swapped for a symlink is unlinked as a symlink, never followed.
absl::Status EmptyDirectory(int dir, uint64_t mnt, const std::string& path, int depth) {
  if (depth > kMaxHomeDepth) {
    return absl::FailedPreconditionError(
        StrCat(path, " is nested deeper than ", kMaxHomeDepth, " directories; left in place"));
  }
  const int list_fd = dup(dir);
  DIR* d = list_fd >= 0 ? fdopendir(list_fd) : nullptr;
  if (!d) {
    if (list_fd >= 0) close(list_fd);
    return absl::ErrnoToStatus(errno, StrCat("cannot list ", path));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& name : names) {
    const std::string sub = path + "/" + name;
    struct stat st {};
    if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return absl::ErrnoToStatus(errno, StrCat("cannot inspect ", sub));
    }
    if (S_ISDIR(st.st_mode)) {
      absl::StatusOr<uint64_t> sub_mnt = MountId(dir, name.c_str());
      if (!sub_mnt.ok()) {
        if (absl::IsNotFound(sub_mnt.status())) continue;
        return absl::UnavailableError(StrCat("cannot inspect ", sub, ": ", sub_mnt.status().message()));
      }
      if (*sub_mnt != mnt) {
        return absl::FailedPreconditionError(
            StrCat(sub, " is another file system mounted inside the home; left in place"));
      }
      const int child = openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) {
        // Replaced by a symlink or a file since fstatat: it goes as what it is now.
        if (errno == ELOOP || errno == ENOTDIR) {
          if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
            return absl::ErrnoToStatus(errno, StrCat("cannot remove ", sub));
          }
          continue;
        }
        if (errno == ENOENT) continue;
        return absl::ErrnoToStatus(errno, StrCat("cannot open ", sub));
      }
      absl::StatusOr<uint64_t> opened = MountId(child, "");
      absl::Status st_child =
          !opened.ok() ? absl::UnavailableError(StrCat("cannot inspect ", sub, ": ", opened.status().message()))
          : *opened != mnt
              ? absl::FailedPreconditionError(StrCat(sub, " is another file system mounted inside the home; left in place"))
              : EmptyDirectory(child, mnt, sub, depth + 1);
      close(child);
      RETURN_IF_ERROR(st_child);
      if (unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
        return absl::ErrnoToStatus(errno, StrCat("cannot remove ", sub));
      }
    } else if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, StrCat("cannot remove ", sub));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::map<uint32_t, int>> KillUidProcesses(const std::set<uint32_t>& uids,
                                                         int64_t grace_ms, int64_t timeout_ms) {
  std::map<pid_t, uint32_t> signalled;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // Pass after pass until one finds nothing: a process forking meanwhile is caught by the next.
  while (true) {
    ASSIGN_OR_RETURN(auto pids, ProcessesOf(uids));
    if (pids.empty()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (const auto& [p, uid] : pids) kill(p, SIGKILL);  // whatever happens next, not alive
      return absl::DeadlineExceededError(StrCat(pids.size(), " process(es) of uid ", pids[0].second,
                                                " still alive after ", timeout_ms, " ms (pid ",
                                                pids[0].first, ")"));
    }
    const bool first = signalled.empty();
    for (const auto& [p, uid] : pids) {
      // The first pass asks politely; later passes (forks of survivors, or the same processes
      // after the grace period) do not.
      kill(p, first ? SIGTERM : SIGKILL);
      signalled[p] = uid;
    }
    if (first) {
      const auto grace = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
      while (std::chrono::steady_clock::now() < grace) {
        ASSIGN_OR_RETURN(auto left, ProcessesOf(uids));
        if (left.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::map<uint32_t, int> counts;
  for (const auto& [p, uid] : signalled) counts[uid]++;
  return counts;
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
  const int fd = open(home.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    if (errno == ELOOP || errno == ENOTDIR) {
      return absl::FailedPreconditionError(StrCat(home, " is not a directory; left in place"));
    }
    return absl::ErrnoToStatus(errno, StrCat("cannot open ", home));
  }
  struct stat st {};
  absl::StatusOr<uint64_t> mnt = MountId(fd, "");
  absl::Status emptied =
      fstat(fd, &st) != 0 || !mnt.ok() ? absl::ErrnoToStatus(errno, StrCat("cannot inspect ", home))
      : st.st_uid != uid
          ? absl::FailedPreconditionError(StrCat(home, " is not owned by uid ", uid, "; left in place"))
          : EmptyDirectory(fd, *mnt, home, 0);
  close(fd);
  RETURN_IF_ERROR(emptied);
  if (rmdir(home.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, StrCat("cannot remove ", home));
  }
  return true;
}

}  // namespace warden
