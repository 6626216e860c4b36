// Session recordings: sessions, recordings export/verify, join, terminate, play.
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "cli/replay.h"
#include "cli/screen.h"
#include "common/duration.h"
#include "common/recording.h"
#include "common/strings.h"
#include "warden/v1/recording.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

absl::Status Terminate(Context& ctx, const std::string& id, const std::string& reason);

struct SessionFilter {
  std::string user, host, command, grant, since, until;
};

absl::Status Sessions(Context& ctx, const SessionFilter& f) {
  RETURN_IF_ERROR(ctx.Open());
  pb::ListSessionsRequest req;
  req.set_user(f.user);
  req.set_host_id(f.host);
  req.set_command(f.command);
  req.set_grant_id(f.grant);
  const int64_t now = time(nullptr);
  if (!f.since.empty()) {
    ASSIGN_OR_RETURN(int64_t ago, ParseDuration(f.since));
    req.set_since_unix(now - ago);
  }
  if (!f.until.empty()) {
    ASSIGN_OR_RETURN(int64_t ago, ParseDuration(f.until));
    req.set_until_unix(now - ago);
  }
  pb::ListSessionsResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::RecordingService>()->ListSessions(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    json arr = json::array();
    for (const auto& s : resp.sessions()) {
      arr.push_back({{"id", s.session_id()}, {"user", s.session().user()},
                     {"host", s.session().host_id()}, {"tty", s.session().tty()},
                     {"rhost", s.session().rhost()}, {"started_ns", s.session().started_unix_ns()},
                     {"ended_ns", s.ended_unix_ns()}, {"chunks", s.chunks()},
                     {"lost_bytes", s.lost_bytes()}, {"sealed", s.sealed()},
                     {"grant", s.session().grant_id()},
                     {"moderators_required", s.moderators_required()},
                     {"moderators", s.moderators()},
                     {"alerts", std::vector<std::string>(s.alerts().begin(), s.alerts().end())}});
    }
    ctx.out().Json(arr);
    return absl::OkStatus();
  }
  if (resp.sessions().empty()) ctx.out().text() << "no recorded sessions match\n";
  for (const auto& s : resp.sessions()) {
    const int64_t start = s.session().started_unix_ns() / 1'000'000'000;
    ctx.out().text() << s.session_id() << "  " << s.session().user() << "@" << s.session().host_id()
              << "  from " << (s.session().rhost().empty() ? "local" : s.session().rhost())
              << "  " << When(start) << "  ";
    if (s.ended_unix_ns() == 0) {
      ctx.out().text() << "live";
      if (s.moderators_required() > 0) {
        ctx.out().text() << (s.moderators() < s.moderators_required() ? "  WAITING FOR MODERATORS "
                                                                 : "  moderated ")
                  << s.moderators() << "/" << s.moderators_required();
      }
    } else {
      const int64_t took = s.ended_unix_ns() / 1'000'000'000 - start;
      ctx.out().text() << (took < 1 ? "<1s" : In(took)) << (s.sealed() ? "  sealed" : "");
    }
    ctx.out().text() << "  " << s.chunks() << " chunks";
    if (s.lost_bytes() > 0) ctx.out().text() << "  " << s.lost_bytes() << " bytes LOST";
    if (!s.alerts().empty()) ctx.out().text() << "  FLAGGED: " << StrJoin(s.alerts(), ", ");
    ctx.out().text() << "\n";
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pb::RecordingChunk>> FetchRecording(Context& ctx, const std::string& id) {
  RETURN_IF_ERROR(ctx.Open());
  pb::GetRecordingRequest req;
  req.set_session_id(id);
  auto call = std::make_unique<grpc::ClientContext>();
  call->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  auto reader = ctx.Stub<pb::RecordingService>()->GetRecording(call.get(), req);
  std::vector<pb::RecordingChunk> chunks;
  pb::RecordingChunk c;
  while (reader->Read(&c)) chunks.push_back(std::move(c));
  RETURN_IF_ERROR(FromGrpc(reader->Finish(), ctx.profile()));
  return chunks;
}

// A recording of a multiplexed OpenSSH connection has several terminals: says so on stderr,
// and refuses one it does not have.
absl::Status CheckTerminal(Context& ctx, const std::string& id, const std::vector<pb::RecordingChunk>& chunks,
                           uint32_t terminal) {
  const uint32_t n = TerminalCount(chunks);
  if (terminal >= n)
    return absl::InvalidArgumentError(
        StrCat("session ", id, " has ", n, n == 1 ? " terminal" : " terminals",
               "; --terminal takes 0", n == 1 ? "" : StrCat(" to ", n - 1)));
  if (n > 1)
    ctx.out().note() << "wardenctl: session " << id << " has " << n
              << " terminals (channels of one SSH connection); this is terminal " << terminal
              << ", choose another with --terminal\n";
  return absl::OkStatus();
}

absl::Status Export(Context& ctx, const std::string& id, const std::string& format, const std::string& out,
                    uint32_t terminal, const std::string& at) {
  ASSIGN_OR_RETURN(std::vector<pb::RecordingChunk> chunks, FetchRecording(ctx, id));
  RETURN_IF_ERROR(CheckTerminal(ctx, id, chunks, terminal));
  std::ofstream file;
  if (!out.empty() && out != "-") {
    file.open(out, std::ios::binary | std::ios::trunc);
    if (!file) return absl::UnavailableError(StrCat("cannot write ", out, ": ", strerror(errno)));
  }
  std::ostream& os = file.is_open() ? file : std::cout;
  std::unique_ptr<ReplayWriter> w;
  if (format == "asciicast") {
    pb::SessionSummary s;
    s.set_session_id(id);
    if (!chunks.empty()) *s.mutable_session() = chunks.front().session();
    const pb::Resize size = FirstSize(chunks, terminal);
    w = AsciicastWriter(os, s, size.cols(), size.rows());
  } else if (format == "text") {
    w = TextWriter(os);
  } else if (format == "commands") {
    w = CommandsWriter(os);
  } else if (format == "raw") {
    w = RawWriter(os);
  } else if (format == "png") {
    if (at.empty()) return absl::InvalidArgumentError("--format png needs --at (e.g. 00:01:23)");
    ASSIGN_OR_RETURN(int64_t at_ns, ParseOffset(at));
    auto png = std::make_unique<PngWriter>(os, at_ns);
    RETURN_IF_ERROR(Replay(chunks, *png, terminal));
    RETURN_IF_ERROR(png->status());
    os.flush();
    if (!os) return absl::UnavailableError(StrCat("cannot write ", out.empty() ? "stdout" : out));
    return absl::OkStatus();
  } else {
    return absl::InvalidArgumentError(
        StrCat("unknown format \"", format, "\"; use asciicast, text, raw, commands or png"));
  }
  RETURN_IF_ERROR(Replay(chunks, *w, terminal));
  os.flush();
  if (!os) return absl::UnavailableError(StrCat("cannot write ", out.empty() ? "stdout" : out));
  return absl::OkStatus();
}

absl::Status Play(Context& ctx, const std::string& id, const PlayOptions& o) {
  if (o.speed <= 0) return absl::InvalidArgumentError("--speed must be above 0");
  ASSIGN_OR_RETURN(std::vector<pb::RecordingChunk> chunks, FetchRecording(ctx, id));
  RETURN_IF_ERROR(CheckTerminal(ctx, id, chunks, o.terminal));
  auto w = Player(std::cout, o, [](double s) {
    std::this_thread::sleep_for(std::chrono::duration<double>(s));
  });
  RETURN_IF_ERROR(Replay(chunks, *w, o.terminal));
  std::cout << "\r\n[wardenctl: end of " << id << "]\r\n";
  return absl::OkStatus();
}

// Watches a session as it happens: what the screen showed so far at once, then live, until it
// ends (or Ctrl-C). A moderator counts toward the role's four-eyes quorum while watching, and
// from a terminal presses t to end the session or q to leave.
absl::Status Join(Context& ctx, const std::string& id, const std::string& mode) {
  if (mode != "observer" && mode != "moderator")
    return absl::InvalidArgumentError(StrCat("unknown mode \"", mode, "\"; use observer or moderator"));
  const bool moderator = mode == "moderator";
  RETURN_IF_ERROR(ctx.Open());
  pb::GetRecordingRequest req;
  req.set_session_id(id);
  req.set_follow(true);
  req.set_moderator(moderator);
  grpc::ClientContext call;
  auto reader = ctx.Stub<pb::RecordingService>()->GetRecording(&call, req);
  std::atomic<bool> done{false}, left{false};
  std::thread keys;
  termios saved{};
  const bool keyboard = moderator && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
  if (keyboard) {
    termios raw = saved;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 2;  // reads return every 0.2 s, so the thread notices the end
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    keys = std::thread([&] {
      while (!done) {
        char k = 0;
        if (read(STDIN_FILENO, &k, 1) != 1) continue;
        if (k == 't') {
          absl::Status st = Terminate(ctx, id, "ended by a moderator from wardenctl join");
          std::cerr << "\r\n[wardenctl: " << (st.ok() ? "ending the session" : std::string(st.message()))
                    << "]\r\n";
        } else if (k == 'q') {
          left = true;
          call.TryCancel();
          return;
        }
      }
    });
  }
  pb::RecordingChunk c;
  bool ended = false;
  absl::Status bad;
  auto w = RawWriter(std::cout);
  bool first = true;
  while (reader->Read(&c)) {
    if (first && moderator) {
      std::cerr << "[wardenctl: watching " << id << " as a moderator"
                << (keyboard ? "; press t to end the session, q to leave" : "") << "]\r\n";
    }
    first = false;
    auto events = DecompressEvents(c.events_zstd());
    if (!events.ok()) {
      bad = absl::DataLossError(StrCat("chunk ", c.seq(), ": ", events.status().message()));
      call.TryCancel();
      break;
    }
    for (const pb::RecordingEvent& ev : events->events()) w->Event(ev);
    std::cout.flush();
    ended = ended || c.final();
  }
  grpc::Status finished = reader->Finish();
  done = true;
  if (keys.joinable()) keys.join();
  if (keyboard) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  RETURN_IF_ERROR(bad);
  if (!left) RETURN_IF_ERROR(FromGrpc(finished, ctx.profile()));
  std::cout << "\r\n[wardenctl: "
            << (left ? "left the session" : ended ? "the session has ended" : "stream closed")
            << "]\r\n";
  return absl::OkStatus();
}

absl::Status Terminate(Context& ctx, const std::string& id, const std::string& reason) {
  RETURN_IF_ERROR(ctx.Open());
  pb::TerminateSessionRequest req;
  req.set_session_id(id);
  req.set_reason(reason);
  pb::TerminateSessionResponse resp;
  return FromGrpc(ctx.Stub<pb::RecordingService>()->TerminateSession(CallContext().get(), req, &resp), ctx.profile());
}

absl::Status RecordingVerify(Context& ctx, const std::string& id) {
  RETURN_IF_ERROR(ctx.Open());
  pb::GetRecordingRequest req;
  req.set_session_id(id);
  pb::VerifyRecordingResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::RecordingService>()->VerifyRecording(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"ok", resp.ok()}, {"message", resp.message()}, {"chunks", resp.chunks()},
                      {"sealed", resp.sealed()}});
  } else {
    ctx.out().text() << (resp.ok() ? "OK: " : "FAILED: ") << resp.message() << "\n";
  }
  if (!resp.ok()) return absl::DataLossError(StrCat("recording ", id, " failed verification"));
  return absl::OkStatus();
}

}  // namespace

void AddSessionCommands(CLI::App& app, Context& ctx) {
  // The option values live as long as the callbacks that read them.
  struct Flags {
    SessionFilter sf;
    std::string id, reason;
    std::string format = "asciicast", export_out, export_at;
    uint32_t export_terminal = 0;
    std::string join_mode = "observer";
  };
  auto f = std::make_shared<Flags>();
  SessionFilter& sf = f->sf;
  auto* sessions = app.add_subcommand("sessions", "list recorded sessions (recording viewers)");
  sessions->add_option("--user", sf.user, "only this login");
  sessions->add_option("--host", sf.host, "only this host id");
  sessions->add_option("--command", sf.command, "only sessions that ran a command containing this");
  sessions->add_option("--grant", sf.grant, "only sessions of this grant");
  sessions->add_option("--since", sf.since, "started at most this long ago, e.g. 2h");
  sessions->add_option("--until", sf.until, "started at least this long ago");
  sessions->callback([&ctx, f] { ctx.status() = Sessions(ctx, f->sf); });

  auto* recs = app.add_subcommand("recordings", "session recordings");
  recs->require_subcommand(1);
  auto* rec_export = recs->add_subcommand("export", "write a recording as asciicast v2, text, raw or "
                                                    "commands; an RDP session's screen as a PNG");
  rec_export->add_option("id", f->id, "session id")->required();
  rec_export->add_option("--format", f->format, "asciicast, text, raw (the terminal's bytes), commands, "
                         "or png (an RDP session's screen --at a moment)")->capture_default_str();
  rec_export->add_option("--at", f->export_at, "png: the moment from the session's start "
                         "(SECONDS, MM:SS or HH:MM:SS)");
  rec_export->add_option("-o,--output", f->export_out, "file (default: stdout)");
  rec_export->add_option("--terminal", f->export_terminal,
                         "which terminal of a multiplexed SSH connection (0: the first)");
  rec_export->callback(
      [&ctx, f] { ctx.status() = Export(ctx, f->id, f->format, f->export_out, f->export_terminal,
                                           f->export_at); });
  auto* rec_verify = recs->add_subcommand("verify", "check a recording's hash chain and signed seal");
  rec_verify->add_option("id", f->id, "session id")->required();
  rec_verify->callback([&ctx, f] { ctx.status() = RecordingVerify(ctx, f->id); });

  auto* join = app.add_subcommand("join", "watch a session live (its screen so far, then as it happens)");
  join->add_option("id", f->id, "session id")->required();
  join->add_option("--mode", f->join_mode,
                   "observer, or moderator: counts toward the role's four-eyes quorum and may end "
                   "the session (t)")
      ->capture_default_str();
  join->callback([&ctx, f] { ctx.status() = Join(ctx, f->id, f->join_mode); });
  auto* terminate = app.add_subcommand("terminate", "end a live session now (its moderators)");
  terminate->add_option("id", f->id, "session id")->required();
  terminate->add_option("--reason", f->reason, "shown on the operator's terminal and audited");
  terminate->callback([&ctx, f] { ctx.status() = Terminate(ctx, f->id, f->reason); });
}

void AddPlayCommand(CLI::App& app, Context& ctx) {
  // The option values live as long as the callback that reads them.
  struct Flags {
    std::string id;
    PlayOptions po;
  };
  auto f = std::make_shared<Flags>();
  PlayOptions& po = f->po;
  auto* play = app.add_subcommand("play", "replay a recorded session in this terminal");
  play->add_option("id", f->id, "session id")->required();
  play->add_option("--speed", po.speed, "playback speed factor")->capture_default_str();
  play->add_option("--max-idle", po.max_idle_s, "seconds: shorten every pause to at most this");
  play->add_option("--from", po.from_s, "seconds: jump here (what came before is drawn at once)");
  play->add_option("--terminal", po.terminal,
                   "which terminal of a multiplexed SSH connection (0: the first)");
  play->callback([&ctx, f] { ctx.status() = Play(ctx, f->id, f->po); });
}

}  // namespace warden::cli
