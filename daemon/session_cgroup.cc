#include "daemon/session_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "daemon/procfs.h"

namespace warden {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes `text` to a cgroup control file in one write(2), as the kernel expects.
absl::Status WriteControl(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, StrCat("cannot open ", path));
  const ssize_t w = write(fd, text.data(), text.size());
  const int err = errno;
  close(fd);
  if (w != static_cast<ssize_t>(text.size())) {
    return absl::ErrnoToStatus(err, StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

// Session cgroups as directories `prefix u<uid>-<session> suffix` under one directory.
class DirectoryCgroups : public SessionCgroups {
 public:
  DirectoryCgroups(std::string dir, std::string prefix, std::string suffix)
      : dir_(std::move(dir)), prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}

  absl::Status Confine(uint32_t uid, const std::string& session, pid_t pid) override {
    if (pid <= 1) return absl::InvalidArgumentError(StrCat("cannot confine process ", pid));
    const std::string path = Path(uid, session);
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, StrCat("cannot create the session's cgroup ", path));
    }
    // Two passes: a process the first pass moved may have forked before it was moved.
    std::set<pid_t> moved;
    for (int pass = 0; pass < 2; pass++) {
      for (pid_t p : ProcessTree(pid)) {
        if (moved.count(p)) continue;
        absl::Status st = WriteControl(path + "/cgroup.procs", StrCat(p));
        if (!st.ok() && !absl::IsNotFound(st) && !(p != pid && Gone(p))) {
          return absl::UnavailableError(StrCat("cannot move process ", p, " into ", path, ": ",
                                               st.message()));
        }
        moved.insert(p);
      }
    }
    return absl::OkStatus();
  }

  void Release(uint32_t uid, const std::string& session) override {
    rmdir(Path(uid, session).c_str());  // fails (EBUSY) while processes remain: by design
  }

  absl::StatusOr<std::map<uint32_t, int>> KillAccounts(const std::set<uint32_t>& uids,
                                                       int64_t timeout_ms) override {
    std::map<uint32_t, int> processes;
    std::vector<std::string> groups;
    DIR* d = opendir(dir_.c_str());
    if (!d) {
      if (errno == ENOENT) return processes;
      return absl::ErrnoToStatus(errno, StrCat("cannot list ", dir_));
    }
    std::vector<std::pair<std::string, uint32_t>> found;
    const std::string want = prefix_ + "u";
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.rfind(want, 0) != 0 || name.size() <= want.size() + suffix_.size() ||
          name.compare(name.size() - suffix_.size(), suffix_.size(), suffix_) != 0) {
        continue;
      }
      const size_t dash = name.find('-', want.size());
      uint32_t uid = 0;
      if (dash == std::string::npos ||
          !ParseInt(std::string_view(name).substr(want.size(), dash - want.size()), &uid) ||
          !uids.count(uid)) {
        continue;
      }
      found.emplace_back(dir_ + "/" + name, uid);
    }
    closedir(d);
    for (const auto& [g, uid] : found) {
      ASSIGN_OR_RETURN(const int n, Kill(g));
      processes[uid] += n;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (const auto& [g, uid] : found) {
      RETURN_IF_ERROR(WaitEmpty(g, deadline, timeout_ms));
      if (rmdir(g.c_str()) != 0 && errno != ENOENT && errno != EBUSY && errno != EPERM) {
        return absl::ErrnoToStatus(errno, StrCat("cannot remove cgroup ", g));
      }
    }
    return processes;
  }

  absl::Status Freeze(uint32_t uid, const std::string& session, bool frozen) override {
    const std::string path = Path(uid, session);
    absl::Status st = WriteControl(path + "/cgroup.freeze", frozen ? "1" : "0");
    if (!st.ok()) {
      return absl::UnavailableError(StrCat("cannot ", frozen ? "freeze" : "thaw", " session cgroup ",
                                           path, ": ", st.message()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int> KillSession(uint32_t uid, const std::string& session,
                                  int64_t timeout_ms) override {
    const std::string path = Path(uid, session);
    if (access(path.c_str(), F_OK) != 0) return 0;
    ASSIGN_OR_RETURN(const int processes, Kill(path));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    RETURN_IF_ERROR(WaitEmpty(path, deadline, timeout_ms));
    rmdir(path.c_str());  // systemd may have collected the scope already
    return processes;
  }

  std::vector<std::pair<uint32_t, std::string>> Sessions() override {
    std::vector<std::pair<uint32_t, std::string>> out;
    DIR* d = opendir(dir_.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
      // PREFIX u<UID>-<SESSION> SUFFIX
      std::string_view name = e->d_name;
      if (e->d_type != DT_DIR || name.size() <= prefix_.size() + suffix_.size() + 1 ||
          name.substr(0, prefix_.size()) != prefix_ ||
          name.substr(name.size() - suffix_.size()) != suffix_)
        continue;
      name = name.substr(prefix_.size(), name.size() - prefix_.size() - suffix_.size());
      const size_t dash = name.find('-');
      int64_t uid = 0;
      if (name[0] != 'u' || dash == std::string_view::npos || dash + 1 == name.size() ||
          !ParseInt(name.substr(1, dash - 1), &uid) || uid < 0 || uid > UINT32_MAX)
        continue;
      out.emplace_back(static_cast<uint32_t>(uid), std::string(name.substr(dash + 1)));
    }
    closedir(d);
    return out;
  }

  std::vector<pid_t> Processes(uint32_t uid, const std::string& session) override {
    std::vector<pid_t> out;
    const std::string procs = ReadText(Path(uid, session) + "/cgroup.procs");
    for (std::string_view line : StrSplit(procs, '\n', true)) {
      int64_t pid = 0;
      if (ParseInt(line, &pid) && pid > 0) out.push_back(static_cast<pid_t>(pid));
    }
    return out;
  }

  std::string Describe() const override { return dir_; }

 private:
  std::string Path(uint32_t uid, const std::string& session) const {
    return StrCat(dir_, "/", prefix_, "u", uid, "-", session, suffix_);
  }
  static bool Gone(pid_t p) { return access(StrCat("/proc/", p).c_str(), F_OK) != 0; }

 protected:
  // Kills every process in cgroup `g` (cgroup.kill) and returns how many there were. Only a cgroup
  // that vanished meanwhile may fail with ENOENT, never a missing cgroup.kill.
  static absl::StatusOr<int> Kill(const std::string& g) {
    int processes = 0;
    const std::string procs = ReadText(g + "/cgroup.procs");
    for (std::string_view line : StrSplit(procs, '\n', true)) {
      if (!line.empty()) processes++;
    }
    absl::Status st = WriteControl(g + "/cgroup.kill", "1");
    if (!st.ok() && !(absl::IsNotFound(st) && access(g.c_str(), F_OK) != 0)) {
      return absl::UnavailableError(StrCat("cannot kill cgroup ", g, ": ", st.message()));
    }
    return processes;
  }
  static absl::Status WaitEmpty(const std::string& g, std::chrono::steady_clock::time_point deadline,
                                int64_t timeout_ms) {
    while (Populated(g)) {
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(
            StrCat("cgroup ", g, " still has processes ", timeout_ms, " ms after cgroup.kill"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return absl::OkStatus();
  }
  static bool Populated(const std::string& g) {
    const std::string events = ReadText(g + "/cgroup.events");
    // A cgroup that vanished (systemd collected the scope) is empty.
    return events.find("populated 1") != std::string::npos;
  }
  const std::string dir_, prefix_, suffix_;
};

// Under systemd: a transient scope per session in warden.slice (systemd creates and removes the
// cgroup); killing still goes through cgroup.kill of each scope's directory.
class SystemdCgroups final : public DirectoryCgroups {
 public:
  SystemdCgroups(std::string mount)
      : DirectoryCgroups(mount + "/warden.slice", "warden-", ".scope"), mount_(std::move(mount)) {}

  absl::Status Confine(uint32_t uid, const std::string& session, pid_t pid) override {
    if (pid <= 1) return absl::InvalidArgumentError(StrCat("cannot confine process ", pid));
    const std::string unit = StrCat(prefix_, "u", uid, "-", session, suffix_);
    sd_bus* bus = nullptr;
    int r = sd_bus_open_system(&bus);
    if (r < 0) return absl::ErrnoToStatus(-r, "cannot connect to systemd over the system bus");
    sd_bus_message* m = nullptr;
    sd_bus_message* reply = nullptr;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    const std::vector<pid_t> pids = ProcessTree(pid);
    r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1",
                                       "/org/freedesktop/systemd1",
                                       "org.freedesktop.systemd1.Manager", "StartTransientUnit");
    if (r >= 0) r = sd_bus_message_append(m, "ss", unit.c_str(), "fail");
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "(sv)");
    if (r >= 0) r = sd_bus_message_append(m, "(sv)", "Slice", "s", "warden.slice");
    if (r >= 0) {
      r = sd_bus_message_append(m, "(sv)", "Description", "s",
                                StrCat("Warden session ", session, " of uid ", uid).c_str());
    }
    if (r >= 0) r = sd_bus_message_append(m, "(sv)", "CollectMode", "s", "inactive-or-failed");
    if (r >= 0) r = sd_bus_message_open_container(m, 'r', "sv");
    if (r >= 0) r = sd_bus_message_append(m, "s", "PIDs");
    if (r >= 0) r = sd_bus_message_open_container(m, 'v', "au");
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "u");
    for (size_t i = 0; r >= 0 && i < pids.size(); i++) {
      r = sd_bus_message_append(m, "u", static_cast<uint32_t>(pids[i]));
    }
    for (int i = 0; r >= 0 && i < 4; i++) r = sd_bus_message_close_container(m);
    if (r >= 0) r = sd_bus_message_append(m, "a(sa(sv))", 0);
    if (r >= 0) r = sd_bus_call(bus, m, 5'000'000, &error, &reply);
    absl::Status st = absl::OkStatus();
    if (r < 0) {
      st = absl::UnavailableError(StrCat("systemd refused scope ", unit, ": ",
                                         error.message ? error.message : strerror(-r)));
    }
    sd_bus_error_free(&error);
    sd_bus_message_unref(reply);
    sd_bus_message_unref(m);
    sd_bus_flush_close_unref(bus);
    RETURN_IF_ERROR(st);
    // The job moves the processes asynchronously: the session starts only once they are in.
    const std::string want = StrCat("/warden.slice/", unit);
    for (int i = 0; i < 400; i++) {
      if (UnifiedCgroupPath(ReadText(StrCat("/proc/", pid, "/cgroup"))) == want) {
        return absl::OkStatus();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return absl::DeadlineExceededError(StrCat("systemd did not move process ", pid, " into ", unit));
  }

  void Release(uint32_t, const std::string&) override {}  // systemd collects empty scopes

  // With pam_systemd later in the session stack, logind moves the session into its own scope
  // under user-<uid>.slice after wardend confined it: that slice holds only this account's
  // sessions, so it goes too.
  absl::StatusOr<std::map<uint32_t, int>> KillAccounts(const std::set<uint32_t>& uids,
                                                       int64_t timeout_ms) override {
    ASSIGN_OR_RETURN(auto killed, DirectoryCgroups::KillAccounts(uids, timeout_ms));
    std::vector<std::string> slices;
    for (uint32_t uid : uids) {
      const std::string slice = StrCat(mount_, "/user.slice/user-", uid, ".slice");
      if (access(slice.c_str(), F_OK) != 0) continue;
      absl::Status st = WriteControl(slice + "/cgroup.kill", "1");
      if (!st.ok() && !absl::IsNotFound(st)) {
        return absl::UnavailableError(StrCat("cannot kill ", slice, ": ", st.message()));
      }
      slices.push_back(slice);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (const std::string& slice : slices) RETURN_IF_ERROR(WaitEmpty(slice, deadline, timeout_ms));
    return killed;
  }

 private:
  const std::string mount_;
};

}  // namespace

std::string Cgroup2MountPoint(const std::string& mountinfo) {
  // Fields: id parent major:minor root mount-point options [optional...] - fstype source ...
  for (std::string_view line : StrSplit(mountinfo, '\n', true)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string_view::npos || line.substr(dash + 3, 8) != "cgroup2 ") continue;
    std::vector<std::string_view> f = StrSplit(line.substr(0, dash), ' ', true);
    if (f.size() >= 5) return std::string(f[4]);
  }
  return "";
}

std::string UnifiedCgroupPath(const std::string& proc_cgroup) {
  for (std::string_view line : StrSplit(proc_cgroup, '\n', true)) {
    if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
  }
  return "";
}

absl::StatusOr<std::unique_ptr<SessionCgroups>> SessionCgroups::Open() {
  const std::string mount = Cgroup2MountPoint(ReadText("/proc/self/mountinfo"));
  if (mount.empty()) {
    return absl::FailedPreconditionError(
        "no cgroup2 file system is mounted: Warden sessions cannot be confined, so none are "
        "allowed (mount cgroup2, e.g. systemd's unified or hybrid hierarchy)");
  }
  if (access((mount + "/cgroup.procs").c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(StrCat("cannot write to the cgroup2 mount at ", mount,
                                                ": Warden sessions cannot be confined"));
  }
  if (sd_booted() > 0) return std::unique_ptr<SessionCgroups>(new SystemdCgroups(mount));
  std::string own = UnifiedCgroupPath(ReadText("/proc/self/cgroup"));
  if (own == "/") own.clear();
  const std::string dir = mount + own + "/warden-sessions";
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, StrCat("cannot create ", dir, " for session cgroups"));
  }
  if (access((dir + "/cgroup.kill").c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(
        StrCat(dir, " has no cgroup.kill (Linux >= 5.14 is needed): a lease end could not end "
                    "its sessions, so none are allowed"));
  }
  return AtDirectory(dir);
}

std::unique_ptr<SessionCgroups> SessionCgroups::AtDirectory(std::string dir) {
  return std::make_unique<DirectoryCgroups>(std::move(dir), "", "");
}

}  // namespace warden
