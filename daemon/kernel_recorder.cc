#include "daemon/kernel_recorder.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "bpf/recorder.h"
#include "recorder.skel.h"

#include "common/strings.h"
#include "daemon/procfs.h"

namespace warden {

absl::StatusOr<InputMode> ParseInputMode(std::string_view s) {
  if (s.empty() || s == "redact") return InputMode::kRedactSecrets;
  if (s == "full" || s == "all") return InputMode::kAll;
  if (s == "off") return InputMode::kOff;
  return absl::InvalidArgumentError(
      StrCat("unknown recording input mode \"", s, "\" (use redact, full or off)"));
}

namespace {

// The threads of process `pid` (itself first).
std::vector<pid_t> Threads(pid_t pid) {
  std::vector<pid_t> out = {pid};
  DIR* d = opendir(StrCat("/proc/", pid, "/task").c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const pid_t tid = static_cast<pid_t>(atoi(e->d_name));
    if (tid > 0 && tid != pid) out.push_back(tid);
  }
  closedir(d);
  return out;
}

// Sets the recorder's task storage of task `tid` (of process `pid`) through a pidfd.
// PIDFD_THREAD (Linux 6.9) names a thread that is not its process's leader.
bool MarkTask(int map_fd, pid_t pid, pid_t tid, const void* value) {
  constexpr unsigned kPidfdThread = O_EXCL;
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tid, tid == pid ? 0u : kPidfdThread));
  if (pidfd < 0) return errno == ESRCH;  // gone meanwhile: nothing to record
  const int rc = bpf_map_update_elem(map_fd, &pidfd, value, BPF_ANY);
  const int err = errno;
  close(pidfd);
  errno = err;
  return rc == 0 || err == ESRCH;
}

std::string ExeOf(uint32_t pid) {
  char buf[4096];
  const ssize_t n = readlink(StrCat("/proc/", pid, "/exe").c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

RecordingEvent Decode(const rec_hdr* h, const uint8_t* payload, size_t payload_len) {
  RecordingEvent ev;
  ev.terminal = h->terminal;
  const char* data = reinterpret_cast<const char*>(payload);
  switch (h->type) {
    case REC_OUTPUT:
      ev.kind = TerminalOutput{std::string(data, payload_len)};
      break;
    case REC_INPUT:
      ev.kind = TerminalInput{std::string(data, payload_len)};
      break;
    case REC_INPUT_REDACTED:
      ev.kind = InputRedacted{h->len};
      break;
    case REC_RESIZE: {
      auto* r = reinterpret_cast<const rec_resize*>(h);
      ev.kind = TerminalResize{.cols = r->cols, .rows = r->rows};
      break;
    }
    case REC_EXEC: {
      auto* x = reinterpret_cast<const rec_exec*>(h);
      ExecEvent e;
      e.pid = static_cast<int32_t>(h->pid);
      e.uid = x->uid;
      e.filename = std::string(x->filename, strnlen(x->filename, sizeof(x->filename)));
      const size_t n = std::min<size_t>(x->argv_len, sizeof(x->argv));
      e.argv_bytes = x->argv_total;
      e.argv_truncated = x->argv_total > n;
      for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && x->argv[end] != '\0') ++end;
        e.argv.emplace_back(x->argv + start, end - start);
        start = end + 1;
      }
      for (uint32_t i = std::min<uint32_t>(x->cwd_depth, REC_CWD_DEPTH); i-- > 0;) {
        e.cwd += '/';
        e.cwd.append(x->cwd[i], strnlen(x->cwd[i], REC_NAME_MAX));
      }
      if (e.cwd.empty()) e.cwd = "/";
      ev.kind = std::move(e);
      break;
    }
  }
  return ev;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Recorder>> Recorder::Load(CapturedEvent sink,
                                                         RecorderOptions options) {
  std::unique_ptr<Recorder> r(new Recorder(std::move(sink)));
  r->skel_ = recorder_bpf__open();
  if (!r->skel_) return absl::UnavailableError(StrCat("cannot open the BPF recorder: ", strerror(errno)));
  if (int err = bpf_map__set_max_entries(r->skel_->maps.events, options.ring_bytes); err != 0)
    return absl::InvalidArgumentError(StrCat("ring buffer of ", options.ring_bytes,
                                             " bytes: ", strerror(-err)));
  if (int err = recorder_bpf__load(r->skel_); err != 0)
    return absl::UnavailableError(
        StrCat("cannot load the BPF recorder (needs root, BTF and tracepoints): ", strerror(-err)));
  r->ring_ = ring_buffer__new(bpf_map__fd(r->skel_->maps.events), &Recorder::OnRecord, r.get(), nullptr);
  if (!r->ring_) return absl::UnavailableError("cannot map the recorder's ring buffer");
  return r;
}

Recorder::~Recorder() {
  if (ring_) ring_buffer__free(ring_);
  if (skel_) recorder_bpf__destroy(skel_);
}

absl::Status Recorder::Begin(uint64_t session, pid_t root, InputMode mode,
                             const std::vector<pid_t>& also) {
  std::lock_guard lock(mu_);
  if (sessions_.empty()) {
    // Fork tracking first, so that no child forked while we walk /proc escapes.
    if (int err = recorder_bpf__attach(skel_); err != 0)
      return absl::UnavailableError(StrCat("cannot attach the BPF recorder: ", strerror(-err)));
  }
  rec_session value{};
  value.input_mode = static_cast<__u32>(mode);
  value.root = static_cast<__u32>(root);
  for (__s64& pts : value.pts) pts = -1;
  auto fail = [&](const char* what) {
    int err = errno;
    if (sessions_.empty()) recorder_bpf__detach(skel_);
    return absl::UnavailableError(StrCat("cannot register session for recording (", what, "): ",
                                         strerror(err)));
  };
  if (bpf_map__update_elem(skel_->maps.sessions, &session, sizeof(session), &value, sizeof(value),
                           BPF_ANY) != 0)
    return fail("sessions map");
  task_rec task{};
  task.session = session;
  const int tasks = bpf_map__fd(skel_->maps.task_recs);
  std::set<pid_t> marked;
  std::vector<pid_t> tops = {root};
  tops.insert(tops.end(), also.begin(), also.end());
  for (pid_t top : tops) {
    for (pid_t pid : ProcessTree(top)) {
      if (!marked.insert(pid).second) continue;
      for (pid_t tid : Threads(pid)) {
        // A process of `also` may have exited meanwhile; root's tree must be whole.
        if (!MarkTask(tasks, pid, tid, &task) && top == root) return fail("task storage");
      }
    }
  }
  sessions_.insert(session);
  return absl::OkStatus();
}

KernelLosses Recorder::End(uint64_t session) {
  std::lock_guard lock(mu_);
  if (!sessions_.erase(session)) return {};
  rec_session value{};
  bpf_map__lookup_elem(skel_->maps.sessions, &session, sizeof(session), &value, sizeof(value), 0);
  // The session's processes that outlive it keep their task storage, naming a session number
  // that is never used again: the programs find no session for them and record nothing.
  bpf_map__delete_elem(skel_->maps.sessions, &session, sizeof(session), 0);
  if (sessions_.empty()) recorder_bpf__detach(skel_);
  return {value.lost_bytes, value.lost_events};
}

void Recorder::Forget(uint64_t session) {
  std::lock_guard lock(mu_);
  redaction_.erase(session);
}

KernelLosses Recorder::Losses(uint64_t session) {
  rec_session value{};
  if (bpf_map__lookup_elem(skel_->maps.sessions, &session, sizeof(session), &value, sizeof(value),
                           0) != 0)
    return {};
  return {value.lost_bytes, value.lost_events};
}

std::vector<int> Recorder::Terminals(uint64_t session) {
  rec_session value{};
  std::vector<int> out;
  if (bpf_map__lookup_elem(skel_->maps.sessions, &session, sizeof(session), &value, sizeof(value),
                           0) != 0)
    return out;
  for (__s64 pts : value.pts) {
    if (pts >= 0) out.push_back(static_cast<int>(pts));
  }
  return out;
}

bool Recorder::attached() {
  std::lock_guard lock(mu_);
  return !sessions_.empty();
}

int Recorder::Poll(int timeout_ms) {
  // The programs wake us only once a quarter of a megabyte is waiting (a wakeup per keystroke
  // would cost more than the capture); below that, records are collected when the wait ends.
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n < 0) return n;
  int more = ring_buffer__consume(ring_);
  return more < 0 ? more : n + more;
}

int Recorder::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Recorder*>(ctx);
  if (size < sizeof(rec_hdr)) return 0;
  auto* h = static_cast<const rec_hdr*>(data);
  size_t payload = 0;
  if (h->type == REC_OUTPUT || h->type == REC_INPUT) {
    payload = std::min<size_t>(h->len, size - sizeof(rec_hdr));
  } else if ((h->type == REC_RESIZE && size < sizeof(rec_resize)) ||
             (h->type == REC_EXEC && size < sizeof(rec_exec)) ||
             (h->type == REC_INPUT_REDACTED && size < sizeof(rec_redacted))) {
    return 0;
  }
  if (h->type == REC_INPUT_REDACTED) {
    self->OnRedacted(reinterpret_cast<const rec_redacted*>(h));
    return 0;
  }
  self->sink_(h->session, h->ts_ns, {h->lost, h->lost_events},
              Decode(h, static_cast<const uint8_t*>(data) + sizeof(rec_hdr), payload));
  return 0;
}

void Recorder::OnRedacted(const rec_redacted* r) {
  const rec_hdr& h = r->hdr;
  sink_(h.session, h.ts_ns, {h.lost, h.lost_events}, Decode(&h, nullptr, 0));
  RedactedLine line;
  {
    std::lock_guard lock(mu_);
    Redaction& red = redaction_[h.session];
    uint64_t& partial = red.partial[h.terminal];
    partial += h.len;
    if (!(h.flags & REC_F_EOL)) return;
    line.bytes = static_cast<uint32_t>(std::min<uint64_t>(partial - 1, UINT32_MAX));
    line.number = ++red.lines;
    partial = 0;
  }
  line.pid = static_cast<int32_t>(r->reader_pid);
  line.comm = std::string(r->reader_comm, strnlen(r->reader_comm, sizeof(r->reader_comm)));
  if (r->reader_pid != 0) line.exe = ExeOf(r->reader_pid);
  RecordingEvent ev;
  ev.terminal = h.terminal;
  ev.kind = std::move(line);
  sink_(h.session, h.ts_ns, {h.lost, h.lost_events}, std::move(ev));
}

}  // namespace warden
