// Session recording benchmarks, side by side in one run (root: loads BPF programs).
//
//  1. TTY throughput: a command writes BYTES of text to its terminal; a "terminal" process holds
//     the pty master and reads everything (the part sshd plays). No recorder, Warden (wardend's
//     own capture, spool and compression: SessionRecorder + RecordingSpool, chunks acknowledged
//     in-process instead of over the network; once compressing, once with
//     `recording_compression: none`), `script`, `tlog-rec` and sudo's `log_output`. Wall time
//     ratio to no recorder, bytes lost, the recorder's CPU, bytes sent and bytes the controller
//     stores.
//  2. Cost to everyone else: a 1-byte `dd` syscall loop, `tar cf - /usr/include | cat` and a
//     compiler run outside any session with: nothing loaded; the recorder loaded and no session
//     (programs detached); the floor (an empty tp_btf sys_enter/sys_exit pair); the recorder
//     with 10 recorded sessions active.
//  3. Storage: bytes Warden stores vs the raw stream vs tlog's JSON, for a `find /` flood and a
//     scripted interactive shell session.
//
// Usage: recording_bench [MIB [COMPILE_COMMAND]]   (default 512 MiB; bench/run.sh passes a compile)
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/recording.h"
#include "daemon/proto_convert.h"
#include "daemon/session_recorder.h"
#include "floor.skel.h"
#include "tests/test_util.h"

namespace {

using namespace warden;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Cpu(const rusage& r) {
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

double ChildrenCpu() {
  rusage r{};
  getrusage(RUSAGE_CHILDREN, &r);
  return Cpu(r);
}

struct TermResult {
  double wall_s = 0, cpu_s = 0;  // cpu: the terminal, the command and everything they ran
  uint64_t received = 0;
};

// Runs `cmd` under sh on a new pty held by a forked terminal process, which reads until the slave
// side is closed and types `input` line by line at a root shell's "# " prompt. `before` sees the
// terminal's pid before it starts.
TermResult RunOnPty(const std::string& cmd, const std::function<void(pid_t)>& before,
                    const std::string& input = "") {
  int go[2], result[2];
  if (pipe(go) != 0 || pipe(result) != 0) abort();
  pid_t term = fork();
  if (term == 0) {
    char b;
    if (read(go[0], &b, 1) != 1) _exit(1);
    const warden::testing::PtyChild pty = warden::testing::SpawnOnPty({"/bin/sh", "-c", cmd}, 50, 200);
    if (pty.pid < 0) _exit(2);
    const int master = pty.master;
    // Input is typed a line at a time, each when the shell shows its prompt again.
    uint64_t received = 0;
    size_t typed = 0;
    std::string tail;
    static char buf[65536];
    while (true) {
      const bool prompt = tail.size() >= 2 && tail.compare(tail.size() - 2, 2, "# ") == 0;
      const bool type = typed < input.size() && prompt;
      pollfd p{master, static_cast<short>(POLLIN | (type ? POLLOUT : 0)), 0};
      if (poll(&p, 1, -1) < 0) break;
      if (p.revents & POLLOUT) {
        size_t end = input.find('\n', typed);
        end = end == std::string::npos ? input.size() : end + 1;
        ssize_t n = write(master, input.data() + typed, end - typed);
        if (n > 0) typed += static_cast<size_t>(n);
        tail.clear();
      }
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(master, buf, sizeof buf);
        if (n <= 0) break;  // EIO: the slave side is gone
        received += static_cast<uint64_t>(n);
        tail.assign(buf + std::max<ssize_t>(0, n - 2), buf + n);
      }
    }
    waitpid(pty.pid, nullptr, 0);
    if (write(result[1], &received, sizeof received) != sizeof received) _exit(3);
    _exit(0);
  }
  close(go[0]);
  close(result[1]);
  before(term);
  const double cpu0 = ChildrenCpu();
  const auto t0 = Clock::now();
  if (write(go[1], "g", 1) != 1) abort();
  TermResult r;
  if (read(result[0], &r.received, sizeof r.received) != sizeof r.received) r.received = 0;
  waitpid(term, nullptr, 0);
  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  r.cpu_s = ChildrenCpu() - cpu0;
  close(go[1]);
  close(result[0]);
  return r;
}

// wardend's recording path in-process: the BPF recorder, SessionRecorder's capture thread
// (ring buffer -> events -> LZ4 chunks, compressed or with `compress` false stored) and an uploader that acknowledges every chunk at once
// and counts what it would send; what the controller would store (zstd) is counted after the run.
class Warden {
 public:
  Warden(Recorder* recorder, bool compress)
      : spool_(RecordingEncoder(compress)), sessions_(spool_, recorder, "", [] { return true; }) {
    capture_ = std::thread([this] {
      sessions_.RunCapture(stop_);
      rusage ru{};
      getrusage(RUSAGE_THREAD, &ru);
      capture_cpu_ = Cpu(ru);
    });
    upload_ = std::thread([this] {
      while (!stop_) {
        for (RecordingChunk& c : spool_.Next(50)) {
          sent_ += c.events_zstd.size();
          spool_.Ack(c.session_id, c.seq);
          chunks_.push_back(std::move(c));
        }
      }
    });
  }
  ~Warden() { Stop(); }
  void OnEvent(uint64_t k, uint64_t ns, KernelLosses lost, RecordingEvent ev) {
    sessions_.OnEvent(k, ns, lost, std::move(ev));
  }
  void Open(const std::string& id, pid_t root) {
    HostSession s;
    s.id = id;
    if (absl::Status st = sessions_.SessionOpened(s, LocalAccount(), root); !st.ok()) {
      fprintf(stderr, "session: %s\n", std::string(st.message()).c_str());
      exit(1);
    }
  }
  void Close(const std::string& id) {
    HostSession s;
    s.id = id;
    sessions_.SessionEnded(s);
  }
  // Waits until every ended session's last chunk is acknowledged.
  void Drain() {
    while (!spool_.Idle()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  void Stop() {
    if (stop_.exchange(true)) return;
    capture_.join();
    spool_.Wake();
    upload_.join();
    // What the controller would replay, counted after the run so as not to compete with it.
    for (const RecordingChunk& c : chunks_) {
      auto unpacked = UnpackEvents(c.events_zstd);
      stored_ += PackForStorage(unpacked->raw)->size();
      for (const auto& ev : unpacked->events.events()) {
        output_ += ev.output().size();
        lost_ += ev.gap();
      }
    }
    chunks_.clear();
  }
  uint64_t sent() const { return sent_; }
  uint64_t stored() const { return stored_; }
  uint64_t output() const { return output_; }
  uint64_t lost() const { return lost_; }
  double capture_cpu() const { return capture_cpu_; }  // REQUIRES: Stop() returned

 private:
  RecordingSpool spool_;
  SessionRecorder sessions_;
  std::atomic<bool> stop_{false};
  std::thread capture_, upload_;
  std::atomic<uint64_t> sent_{0}, stored_{0}, output_{0}, lost_{0};
  std::vector<RecordingChunk> chunks_;  // by the upload thread until Stop
  double capture_cpu_ = 0;
};

// The BPF recorder, loaded once; events go to whichever Warden is current.
struct Kernel {
  std::unique_ptr<Recorder> recorder;
  std::atomic<Warden*> current{nullptr};
  Kernel() {
    auto r = Recorder::Load([this](uint64_t k, uint64_t ns, KernelLosses lost, RecordingEvent ev) {
      if (Warden* w = current.load()) w->OnEvent(k, ns, lost, std::move(ev));
    });
    if (!r.ok()) {
      fprintf(stderr, "recorder: %s\n", std::string(r.status().message()).c_str());
      exit(1);
    }
    recorder = std::move(*r);
  }
};

uint64_t TreeSize(const fs::path& p) {
  uint64_t n = 0;
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  for (auto it = fs::recursive_directory_iterator(p, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) n += it->file_size(ec);
  }
  return n;
}

double Seconds(const std::string& cmd) {
  const auto t0 = Clock::now();
  if (system(cmd.c_str()) != 0) fprintf(stderr, "failed: %s\n", cmd.c_str());
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// tlog-rec insists on a utmp record; this machine has no /run/utmp. It gets a private, empty
// one in its own mount namespace.
std::string Tlog(const fs::path& log, const std::string& cmd) {
  return "unshare -m sh -c " +
         Quote("mount -t tmpfs tmpfs /run && touch /run/utmp && exec tlog-rec -w file -o " +
               log.string() + " " + cmd);
}

struct Peer {
  const char* name;
  std::string cmd;    // runs the flood under the recorder
  fs::path storage;   // what it wrote
};

struct WardenRun {
  TermResult term;
  uint64_t sent = 0, stored = 0, output = 0, lost = 0;
  double cpu = 0;
};

WardenRun RunWarden(Kernel& k, const std::string& cmd, const std::string& input = "",
                    bool compress = true) {
  WardenRun r;
  Warden w(k.recorder.get(), compress);
  k.current = &w;
  r.term = RunOnPty(cmd, [&](pid_t pid) { w.Open("s-bench", pid); }, input);
  w.Close("s-bench");
  w.Drain();
  w.Stop();
  k.current = nullptr;
  r.sent = w.sent(), r.stored = w.stored(), r.output = w.output(), r.lost = w.lost();
  r.cpu = w.capture_cpu();
  return r;
}

void Throughput(Kernel& k, const fs::path& tmp, int mib) {
  // Text like a terminal shows: C headers, repeated to the size asked for.
  const fs::path corpus = tmp / "corpus";
  Seconds("find /usr/include -name '*.h' -exec cat {} + 2>/dev/null | head -c 67108864 > " +
          corpus.string());
  const uint64_t corpus_size = fs::file_size(corpus);
  const uint64_t reps = std::max<uint64_t>(1, (static_cast<uint64_t>(mib) << 20) / corpus_size);
  const std::string flood =
      "for i in $(seq " + std::to_string(reps) + "); do cat " + corpus.string() + "; done";
  {
    std::ofstream sudoers(tmp / "sudoers");
    sudoers << "Defaults log_output\nDefaults iolog_dir=" << (tmp / "sudo-io").string()
            << "\nroot ALL=(ALL) NOPASSWD: ALL\n";
  }
  chmod((tmp / "sudoers").c_str(), 0440);
  std::vector<Peer> peers = {
      {"script", "script -q -c " + Quote(flood) + " " + (tmp / "typescript").string(),
       tmp / "typescript"},
      {"tlog-rec", Tlog(tmp / "tlog.json", "sh -c " + Quote(flood)), tmp / "tlog.json"},
      // sudo reads /etc/sudoers: this one is bind-mounted in a private mount namespace.
      {"sudo log_output",
       "unshare -m sh -c " + Quote("mount --bind " + (tmp / "sudoers").string() +
                                   " /etc/sudoers && exec sudo -u root sh -c " + Quote(flood)),
       tmp / "sudo-io"},
  };

  printf("== TTY throughput: %.0f MiB of text written to a terminal\n",
         static_cast<double>(corpus_size * reps) / (1 << 20));
  printf("%-22s %8s %7s %13s %8s %10s %12s %12s\n", "recorder", "wall s", "ratio", "received B",
         "lost B", "CPU s", "sent B", "stored B");
  // No recorder, Warden (compressing on the host, and with recording_compression: none) and
  // Warden's kernel half alone, interleaved five times. A flood's wall
  // time moves by a third between runs on this machine (how the pty's reads and writes fall),
  // so each ratio is the median of the ratios within a round, not a ratio of medians.
  auto kernel_only = [&]() {
    // The ring buffer is drained and its records dropped.
    std::atomic<bool> stop{false};
    std::thread drain([&] {
      while (!stop) k.recorder->Poll(50);
    });
    TermResult t = RunOnPty(flood, [&](pid_t pid) {
      if (!k.recorder->Begin(99, pid, InputMode::kRedactSecrets).ok()) exit(1);
    });
    const uint64_t lost = k.recorder->End(99).bytes;
    stop = true;
    drain.join();
    return std::make_pair(t, lost);
  };
  // One of Warden's arms: its runs, and what it recorded in the last.
  struct Arm {
    const char* name;
    bool compress;
    std::vector<double> wall, cpu, ratio;
    uint64_t missing = 0, sent = 0, stored = 0;
  } arms[] = {{"warden", true, {}, {}, {}}, {"warden, not compressed", false, {}, {}, {}}};
  std::vector<double> bare_s, bare_cpu, kernel_s, kernel_ratio;
  uint64_t received = 0, kernel_lost = 0;
  constexpr int kRounds = 5;
  for (int rep = 0; rep < kRounds; rep++) {
    const TermResult bare = RunOnPty(flood, [](pid_t) {});
    bare_s.push_back(bare.wall_s);
    bare_cpu.push_back(bare.cpu_s);
    received = bare.received;
    for (Arm& a : arms) {
      const WardenRun w = RunWarden(k, flood, "", a.compress);
      a.wall.push_back(w.term.wall_s);
      a.cpu.push_back(w.cpu);
      a.ratio.push_back(w.term.wall_s / bare.wall_s);
      // Lost: what the terminal received and the recording does not hold (gaps included).
      a.missing += w.term.received > w.output ? w.term.received - w.output : 0;
      a.sent = w.sent, a.stored = w.stored;
    }
    auto [t, lost] = kernel_only();
    kernel_s.push_back(t.wall_s);
    kernel_lost += lost;
    kernel_ratio.push_back(t.wall_s / bare.wall_s);
  }
  const double bare_wall = Median(bare_s);
  printf("%-22s %8.2f %7.2f %13llu %8s %10s %12s %12s   (terminal + command CPU %.2f s)\n", "none",
         bare_wall, 1.0, static_cast<unsigned long long>(received), "-", "-", "-", "-",
         Median(bare_cpu));
  for (const Arm& a : arms) {
    printf("%-22s %8.2f %7.2f %13llu %8llu %10.2f %12llu %12llu\n", a.name, Median(a.wall),
           Median(a.ratio), static_cast<unsigned long long>(received),
           static_cast<unsigned long long>(a.missing), Median(a.cpu),
           static_cast<unsigned long long>(a.sent), static_cast<unsigned long long>(a.stored));
  }
  printf("%-22s %8.2f %7.2f %13llu %8llu %10s %12s %12s\n", "  kernel half only",
         Median(kernel_s), Median(kernel_ratio), static_cast<unsigned long long>(received),
         static_cast<unsigned long long>(kernel_lost), "-", "-", "-");
  for (const Peer& p : peers) {
    const TermResult t = RunOnPty(p.cmd, [](pid_t) {});
    // Their recorder runs inside the session's process tree: its CPU is the tree's minus the
    // bare run's.
    printf("%-22s %8.2f %7.2f %13llu %8s %10.2f %12s %12llu\n", p.name, t.wall_s,
           t.wall_s / bare_wall, static_cast<unsigned long long>(t.received), "?",
           std::max(0.0, t.cpu_s - Median(bare_cpu)), "-",
           static_cast<unsigned long long>(TreeSize(p.storage)));
    fs::remove_all(p.storage);
  }
  printf("(none/warden/kernel half: medians of %d interleaved rounds, ratios within a round, "
         "lost summed over them; peers: one run. CPU: wardend's capture thread (ring buffer, "
         "events, LZ4); for the peers their process tree's CPU above the bare run's. Sent: to "
         "the controller; stored: what it keeps, zstd)\n\n",
         kRounds);
}

// Processes outside any session.
void Bystanders(Kernel& k, const fs::path& tmp, const std::string& compile) {
  floor_bpf* floor = floor_bpf__open_and_load();
  if (!floor) {
    fprintf(stderr, "cannot load the floor programs\n");
    exit(1);
  }
  const std::string dd = "dd if=/dev/zero of=/dev/null bs=1 count=3000000 status=none";
  const std::string tar = "tar cf - /usr/include 2>/dev/null | cat >/dev/null";
  // Ten recorded sessions, idle: a sleeping shell each.
  std::vector<pid_t> sleepers;
  auto sessions = [&](Warden& w) {
    for (int i = 0; i < 10; i++) {
      pid_t p = fork();
      if (p == 0) {
        execl("/bin/sleep", "sleep", "1000", nullptr);
        _exit(127);
      }
      sleepers.push_back(p);
      w.Open("s-idle-" + std::to_string(i), p);
    }
  };
  auto end_sessions = [&](Warden& w) {
    for (int i = 0; i < 10; i++) w.Close("s-idle-" + std::to_string(i));
    w.Drain();
    for (pid_t p : sleepers) kill(p, SIGKILL), waitpid(p, nullptr, 0);
    sleepers.clear();
  };
  enum { kNone, kIdle, kFloor, kTen, kStates };
  const char* names[kStates] = {"nothing loaded", "recorder loaded, no session",
                                "floor: empty tp_btf pair", "warden, 10 sessions"};
  std::vector<double> t[3][kStates];
  const std::string cmds[3] = {dd, tar, compile};
  for (const std::string& cmd : cmds) Seconds(cmd);  // warm the page cache: no state pays for it
  for (int rep = 0; rep < 3; rep++) {
    for (int c = 0; c < 3; c++) {
      // "nothing loaded" and "no session" are the same kernel state (programs detached); both
      // are measured to show it.
      t[c][kNone].push_back(Seconds(cmds[c]));
      t[c][kIdle].push_back(Seconds(cmds[c]));
      if (floor_bpf__attach(floor) != 0) exit(1);
      t[c][kFloor].push_back(Seconds(cmds[c]));
      floor_bpf__detach(floor);
      {
        Warden w(k.recorder.get(), true);
        k.current = &w;
        sessions(w);
        t[c][kTen].push_back(Seconds(cmds[c]));
        end_sessions(w);
        k.current = nullptr;
      }
    }
  }
  floor_bpf__destroy(floor);
  printf("== Cost to processes outside any session (median of 3, seconds; ratio to nothing loaded)\n");
  printf("%-30s %18s %18s %18s\n", "state", "dd bs=1 (6M sysc.)", "tar /usr/include", "compile");
  for (int s = 0; s < kStates; s++) {
    printf("%-30s", names[s]);
    for (int c = 0; c < 3; c++) {
      printf("   %7.3f (%5.3fx)", Median(t[c][s]), Median(t[c][s]) / Median(t[c][kNone]));
    }
    printf("\n");
  }
  printf("warden with 10 sessions vs the floor, dd: %.3fx\n\n",
         Median(t[0][kTen]) / Median(t[0][kFloor]));
  (void)tmp;
}

void Storage(Kernel& k, const fs::path& tmp) {
  printf("== Storage: bytes kept per session vs the raw terminal stream\n");
  printf("%-34s %12s %12s %8s %12s %8s %12s %8s\n", "session", "raw B", "sent B", "ratio",
         "kept B", "ratio", "tlog B", "ratio");
  const std::string find = "find / -xdev 2>/dev/null";
  std::string typed;
  for (int i = 0; i < 20; i++) {
    typed += "ls -la /etc\nps aux\ncat /etc/services | head -50\ndf -h\nid\nuname -a\n"
             "grep -c root /etc/passwd\nsystemctl --no-pager list-units --type=service 2>&1 | head -30\n";
  }
  typed += "exit\n";
  const std::string shell = "bash --norc --noprofile -i";
  struct Case {
    const char* name;
    std::string cmd, input;
  } cases[] = {{"find / flood", find, ""}, {"interactive shell, 160 commands", shell, typed}};
  for (const Case& c : cases) {
    const WardenRun w = RunWarden(k, c.cmd, c.input);
    const fs::path log = tmp / "tlog-storage.json";
    RunOnPty(Tlog(log, c.cmd), [](pid_t) {}, c.input);
    const uint64_t tlog = TreeSize(log);
    const double raw = static_cast<double>(w.term.received);
    printf("%-34s %12llu %12llu %8.3f %12llu %8.3f %12llu %8.3f\n", c.name,
           static_cast<unsigned long long>(w.term.received),
           static_cast<unsigned long long>(w.sent), static_cast<double>(w.sent) / raw,
           static_cast<unsigned long long>(w.stored), static_cast<double>(w.stored) / raw,
           static_cast<unsigned long long>(tlog),
           static_cast<double>(tlog) / raw);
    fs::remove(log);
  }
  printf("(warden sends LZ4 chunks of screen, keystrokes, execs and timing, and the controller "
         "keeps them as zstd; tlog JSON with the same input/output logging)\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    fprintf(stderr, "recording_bench loads BPF programs: run it as root\n");
    return 1;
  }
  const int mib = argc > 1 ? atoi(argv[1]) : 512;
  const std::string compile = argc > 2 ? argv[2] : "true";
  char tmpl[] = "/tmp/warden-recbench.XXXXXX";
  const fs::path tmp = mkdtemp(tmpl);
  Kernel k;
  Throughput(k, tmp, mib);
  Bystanders(k, tmp, compile);
  Storage(k, tmp);
  fs::remove_all(tmp);
  return 0;
}
