// The one conversion between wardend's wire messages and its core's types: nothing the core reads
// is lost or changed on the way in, and what the spool encodes is what the controller decodes.
#include "daemon/proto_convert.h"

#include <gtest/gtest.h>

#include "common/recording.h"

namespace warden {
namespace {

TEST(ProtoConvert, AHostStateKeepsEveryFieldTheCoreReads) {
  v1::HostState in;
  in.set_revision(7);
  in.add_trusted_user_ca_keys("ssh-ed25519 AAAA ca-1");
  in.set_krl(std::string("KRL\0bytes", 9));
  v1::HostAccount* a = in.add_accounts();
  a->set_login("adm-alice-7k2f");
  a->set_uid(1879048192);
  a->set_gid(1879048192);
  a->set_gecos("Warden alice");
  a->set_home("/ignored");
  a->set_shell("/bin/bash");
  a->set_expires_unix(1800000600);
  a->add_groups("warden-admins");
  a->set_sudo_rule("ALL=(ALL) ALL");
  a->set_grant_id("g-1");
  a->set_user("alice");
  a->set_recording_input("full");
  a->set_recording_mode("strict");
  a->set_moderators_required(2);
  a->set_moderator_on_leave("pause");
  a->set_moderator_wait_seconds(90);
  a->set_max_redacted_lines(0);
  a->set_on_redaction_limit("hold");
  v1::HostGroup* g = in.add_groups();
  g->set_name("warden-admins");
  g->set_gid(1879049192);
  g->add_members("adm-alice-7k2f");

  const HostState out = HostStateFromProto(in);
  EXPECT_EQ(out.revision, 7);
  EXPECT_EQ(out.trusted_user_ca_keys, std::vector<std::string>{"ssh-ed25519 AAAA ca-1"});
  EXPECT_EQ(out.krl, std::string("KRL\0bytes", 9));
  ASSERT_EQ(out.accounts.size(), 1u);
  const GrantedAccount& x = out.accounts[0];
  EXPECT_EQ(x.login, "adm-alice-7k2f");
  EXPECT_EQ(x.uid, 1879048192u);
  EXPECT_EQ(x.gid, 1879048192u);
  EXPECT_EQ(x.gecos, "Warden alice");
  EXPECT_EQ(x.shell, "/bin/bash");
  EXPECT_EQ(x.expires_unix, 1800000600);
  EXPECT_EQ(x.groups, std::vector<std::string>{"warden-admins"});
  EXPECT_EQ(x.sudo_rule, "ALL=(ALL) ALL");
  EXPECT_EQ(x.grant_id, "g-1");
  EXPECT_EQ(x.user, "alice");
  EXPECT_EQ(x.recording_input, "full");
  EXPECT_EQ(x.recording_mode, "strict");
  EXPECT_EQ(x.moderators_required, 2u);
  EXPECT_EQ(x.moderator_on_leave, "pause");
  EXPECT_EQ(x.moderator_wait_seconds, 90);
  EXPECT_EQ(x.max_redacted_lines, std::optional<uint32_t>(0)) << "0 sent is not absent";
  EXPECT_EQ(x.on_redaction_limit, "hold");
  ASSERT_EQ(out.groups.size(), 1u);
  EXPECT_EQ(out.groups[0].name, "warden-admins");
  EXPECT_EQ(out.groups[0].gid, 1879049192u);
  EXPECT_EQ(out.groups[0].members, std::vector<std::string>{"adm-alice-7k2f"});

  a->clear_max_redacted_lines();
  EXPECT_FALSE(HostStateFromProto(in).accounts[0].max_redacted_lines.has_value())
      << "absent stays absent: the core applies its default";
}

TEST(ProtoConvert, EveryAgentCallArrivesAsItsDomainCall) {
  v1::AgentRequest req;
  EXPECT_TRUE(std::holds_alternative<std::monostate>(AgentCallFromProto(req)));
  req.mutable_session_open()->set_user("adm-alice-7k2f");
  req.mutable_session_open()->set_service("sshd");
  req.mutable_session_open()->set_tty("/dev/pts/3");
  req.mutable_session_open()->set_rhost("10.1.2.3");
  req.mutable_session_open()->set_pid(4242);
  AgentCall call = AgentCallFromProto(req);
  const auto* open = std::get_if<SessionOpen>(&call);
  ASSERT_NE(open, nullptr);
  EXPECT_EQ(open->user, "adm-alice-7k2f");
  EXPECT_EQ(open->service, "sshd");
  EXPECT_EQ(open->tty, "/dev/pts/3");
  EXPECT_EQ(open->rhost, "10.1.2.3");
  EXPECT_EQ(open->pid, 4242);
  req.mutable_account()->set_user("u");
  req.mutable_account()->set_rhost("h");
  call = AgentCallFromProto(req);
  ASSERT_TRUE(std::holds_alternative<AccountCheck>(call));
  EXPECT_EQ(std::get<AccountCheck>(call).rhost, "h");
  req.mutable_session_close()->set_session_id("s-1");
  call = AgentCallFromProto(req);
  ASSERT_TRUE(std::holds_alternative<SessionClose>(call));
  EXPECT_EQ(std::get<SessionClose>(call).session_id, "s-1");
  req.mutable_principals()->set_user("p");
  call = AgentCallFromProto(req);
  ASSERT_TRUE(std::holds_alternative<PrincipalsQuery>(call));
  EXPECT_EQ(std::get<PrincipalsQuery>(call).user, "p");
}

TEST(ProtoConvert, EveryVerdictKeepsItsMeaningOnTheWire) {
  const std::pair<AgentVerdict, v1::AgentResponse::Verdict> pairs[] = {
      {AgentVerdict::kUnspecified, v1::AgentResponse::VERDICT_UNSPECIFIED},
      {AgentVerdict::kAllow, v1::AgentResponse::ALLOW},
      {AgentVerdict::kDeny, v1::AgentResponse::DENY},
      {AgentVerdict::kNotManaged, v1::AgentResponse::NOT_MANAGED},
      {AgentVerdict::kHold, v1::AgentResponse::HOLD},
  };
  for (const auto& [domain, wire] : pairs) {
    AgentReply r;
    r.verdict = domain;
    r.message = "why";
    r.session_id = "s-1";
    r.principals = {"adm-alice-7k2f"};
    const v1::AgentResponse out = AgentReplyToProto(r);
    EXPECT_EQ(out.verdict(), wire);
    EXPECT_EQ(out.message(), "why");
    EXPECT_EQ(out.session_id(), "s-1");
    ASSERT_EQ(out.principals_size(), 1);
    EXPECT_EQ(out.principals(0), "adm-alice-7k2f");
  }
}

TEST(ProtoConvert, EncodedEventsAreWhatTheControllerDecodes) {
  std::vector<RecordingEvent> events = {
      {.offset_ns = 1, .terminal = 0, .kind = TerminalOutput{"screen"}},
      {.offset_ns = 2, .terminal = 1, .kind = TerminalInput{"keys"}},
      {.offset_ns = 3, .terminal = 0, .kind = InputRedacted{8}},
      {.offset_ns = 4, .terminal = 0, .kind = TerminalResize{.cols = 100, .rows = 30}},
      {.offset_ns = 5,
       .terminal = 0,
       .kind = ExecEvent{.pid = 42,
                         .uid = 7,
                         .filename = "/bin/ls",
                         .argv = {"ls", "-l"},
                         .cwd = "/tmp",
                         .argv_bytes = 6,
                         .argv_truncated = true}},
      {.offset_ns = 6, .terminal = 0, .kind = DataGap{4096}},
      {.offset_ns = 7,
       .terminal = 0,
       .kind =
           RedactedLine{.bytes = 5, .number = 1, .pid = 9, .comm = "sudo", .exe = "/usr/bin/sudo"}},
      {.offset_ns = 8, .terminal = 0, .kind = LostEvents{3}},
      {.offset_ns = 9, .terminal = 0, .kind = SessionAlert{"redaction_limit", "too many"}},
  };
  absl::StatusOr<std::string> packed = EncodeRecordingEvents(events);
  ASSERT_TRUE(packed.ok()) << packed.status().message();
  absl::StatusOr<v1::RecordingEvents> got = DecompressEvents(*packed);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->events_size(), 9);
  for (int i = 0; i < 9; i++) EXPECT_EQ(got->events(i).offset_ns(), i + 1);
  EXPECT_EQ(got->events(0).output(), "screen");
  EXPECT_EQ(got->events(1).input(), "keys");
  EXPECT_EQ(got->events(1).terminal(), 1u);
  EXPECT_EQ(got->events(2).input_redacted(), 8u);
  EXPECT_EQ(got->events(3).resize().cols(), 100u);
  EXPECT_EQ(got->events(3).resize().rows(), 30u);
  const v1::Exec& x = got->events(4).exec();
  EXPECT_EQ(x.pid(), 42);
  EXPECT_EQ(x.uid(), 7u);
  EXPECT_EQ(x.filename(), "/bin/ls");
  ASSERT_EQ(x.argv_size(), 2);
  EXPECT_EQ(x.argv(1), "-l");
  EXPECT_EQ(x.cwd(), "/tmp");
  EXPECT_EQ(x.argv_bytes(), 6u);
  EXPECT_TRUE(x.argv_truncated());
  EXPECT_EQ(got->events(5).gap(), 4096u);
  const v1::RedactedLine& l = got->events(6).redacted_line();
  EXPECT_EQ(l.bytes(), 5u);
  EXPECT_EQ(l.number(), 1u);
  EXPECT_EQ(l.pid(), 9);
  EXPECT_EQ(l.comm(), "sudo");
  EXPECT_EQ(l.exe(), "/usr/bin/sudo");
  EXPECT_EQ(got->events(7).lost_events(), 3u);
  EXPECT_EQ(got->events(8).alert().kind(), "redaction_limit");
  EXPECT_EQ(got->events(8).alert().message(), "too many");
}

TEST(ProtoConvert, AChunkCarriesItsSessionOnlyWhenItHasOne) {
  RecordingChunk c;
  c.session_id = "s-1";
  c.seq = 2;
  c.events_zstd = "payload";
  c.final = true;
  c.ended_unix_ns = 5;
  c.lost_bytes = 6;
  v1::RecordingChunk out = RecordingChunkToProto(c);
  EXPECT_EQ(out.session_id(), "s-1");
  EXPECT_EQ(out.seq(), 2u);
  EXPECT_EQ(out.events_zstd(), "payload");
  EXPECT_FALSE(out.has_session());
  EXPECT_TRUE(out.final());
  EXPECT_EQ(out.ended_unix_ns(), 5);
  EXPECT_EQ(out.lost_bytes(), 6u);
  c.session = SessionInfo{.user = "adm-alice",
                          .service = "sshd",
                          .tty = "pts/3",
                          .rhost = "10.1.2.3",
                          .grant_id = "g-1",
                          .started_unix_ns = 11};
  out = RecordingChunkToProto(c);
  ASSERT_TRUE(out.has_session());
  EXPECT_EQ(out.session().user(), "adm-alice");
  EXPECT_EQ(out.session().service(), "sshd");
  EXPECT_EQ(out.session().tty(), "pts/3");
  EXPECT_EQ(out.session().rhost(), "10.1.2.3");
  EXPECT_EQ(out.session().grant_id(), "g-1");
  EXPECT_EQ(out.session().started_unix_ns(), 11);
}

}  // namespace
}  // namespace warden
