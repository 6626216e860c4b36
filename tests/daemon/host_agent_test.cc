#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <future>

#include "common/agent_wire.h"
#include "common/nsscache.h"
#include "tests/daemon/agent_client.h"
#include "daemon/enforcer.h"
#include "daemon/procfs.h"
#include "tests/daemon/fixture.h"

namespace warden {
namespace {

using testing::kNow;
using testing::StateWith;

class Agent : public testing::AgentFixture {
 protected:
  v1::AgentResponse Check(const std::string& user) {
    v1::AgentRequest req;
    req.mutable_account()->set_user(user);
    auto r = CallAgent(config_.agent_socket, req);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : v1::AgentResponse();
  }
  // Looks `name` up in the NSS cache file the way libnss_warden.so.2 does.
  bool InCache(const std::string& name) {
    std::string image = testing::ReadAll(config_.nss_cache);
    std::vector<uint64_t> aligned(image.size() / 8 + 1);
    memcpy(aligned.data(), image.data(), image.size());
    warden_nss_cache cache;
    if (warden_nss_cache_open(aligned.data(), image.size(), &cache) != 0) return false;
    return warden_nss_user_by_name(&cache, name.c_str(), now_) != nullptr;
  }
};

TEST_F(Agent, LeaseDecidesTheVerdictAndExpiryRemovesEverything) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 60)).ok());
  EXPECT_EQ(Check("adm-alice-7k2f").verdict(), v1::AgentResponse::ALLOW);
  EXPECT_EQ(Check("someone-else").verdict(), v1::AgentResponse::NOT_MANAGED);
  EXPECT_EQ(Check("rescue").verdict(), v1::AgentResponse::NOT_MANAGED);
  EXPECT_TRUE(InCache("adm-alice-7k2f"));
  EXPECT_NE(testing::ReadAll(config_.sudoers_file).find("adm-alice-7k2f ALL=(ALL) NOPASSWD: ALL"),
            std::string::npos);
  EXPECT_NE(testing::ReadAll(config_.StatePath("trusted_user_ca_keys")).find("user-ca-0-1"),
            std::string::npos);
  // sshd's AuthorizedPrincipalsFile for the account lists its login, the certificate's principal.
  EXPECT_EQ(testing::ReadAll(config_.StatePath("principals/adm-alice-7k2f")), "adm-alice-7k2f\n");

  // The session creates the home (never the path the controller sent).
  v1::AgentRequest open;
  open.mutable_session_open()->set_user("adm-alice-7k2f");
  open.mutable_session_open()->set_tty("/dev/pts/3");
  auto opened = CallAgent(config_.agent_socket, open);
  ASSERT_TRUE(opened.ok());
  EXPECT_FALSE(opened->session_id().empty());
  struct stat st {};
  ASSERT_EQ(stat((dir_ / "home/adm-alice-7k2f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, 1879048192u);
  EXPECT_NE(access("/ignored", F_OK), 0);

  now_ = kNow + 60;
  agent_->Enforce();
  auto r = Check("adm-alice-7k2f");
  EXPECT_EQ(r.verdict(), v1::AgentResponse::DENY);
  EXPECT_NE(r.message().find("has ended (expired"), std::string::npos) << r.message();
  EXPECT_FALSE(InCache("adm-alice-7k2f"));
  EXPECT_FALSE(std::filesystem::exists(config_.StatePath("principals/adm-alice-7k2f")));
  EXPECT_EQ(testing::ReadAll(config_.sudoers_file).find("adm-alice-7k2f"), std::string::npos);
  EXPECT_NE(stat((dir_ / "home/adm-alice-7k2f").c_str(), &st), 0);
  auto pending = agent_->PendingReports();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].reason, "expired");
  EXPECT_TRUE(pending[0].home_removed);

  // A lagging controller cannot bring an ended lease back.
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 3600, 2)).ok());
  EXPECT_EQ(Check("adm-alice-7k2f").verdict(), v1::AgentResponse::DENY);
}

TEST_F(Agent, StateSurvivesARestartAndRevocationEndsTheLease) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-bob-aaaa", kNow + 600, 5)).ok());
  auto reloaded = LoadLocalState(config_);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(reloaded->revision, 5);
  ASSERT_EQ(reloaded->accounts.size(), 1u);
  EXPECT_EQ(reloaded->accounts[0].home, dir_ / "home/adm-bob-aaaa");

  ASSERT_TRUE(agent_->Apply(StateWith("", 0, 6)).ok());  // the grant was revoked
  EXPECT_FALSE(std::filesystem::exists(config_.StatePath("principals/adm-bob-aaaa")));
  agent_->Enforce();
  auto r = Check("adm-bob-aaaa");
  EXPECT_EQ(r.verdict(), v1::AgentResponse::DENY);
  EXPECT_NE(r.message().find("revoked"), std::string::npos);
  EXPECT_EQ(agent_->PendingReports().at(0).reason, "revoked");
}

TEST_F(Agent, MalformedStatesFromTheControllerChangeNothing) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600)).ok());
  const std::string cache = testing::ReadAll(config_.nss_cache);
  for (auto bad : {StateWith("adm-root", kNow + 600, 2, 0),      // uid 0
                   StateWith("Bad:Name", kNow + 600, 2),         // not a login
                   StateWith("adm-x", kNow + 600, 2, 1000)}) {   // a system-range uid
    EXPECT_FALSE(agent_->Apply(bad).ok());
  }
  auto bad_rule = StateWith("adm-y", kNow + 600, 2);
  bad_rule.accounts[0].sudo_rule = "ALL\nroot ALL=(ALL) ALL";
  EXPECT_FALSE(agent_->Apply(bad_rule).ok());
  EXPECT_EQ(testing::ReadAll(config_.nss_cache), cache);
  EXPECT_EQ(Check("adm-alice-7k2f").verdict(), v1::AgentResponse::ALLOW);
}

// A principals file no live account owns (left by a crash, or planted) is removed; one that
// cannot be written is retried every tick until it can.
TEST_F(Agent, PrincipalsFilesFollowTheLiveAccountsAndFailuresAreRetried) {
  ASSERT_EQ(mkdir(config_.StatePath("principals").c_str(), 0755), 0);
  testing::WriteAll(config_.StatePath("principals/adm-mallory-0000"), "adm-mallory-0000\n");
  testing::WriteAll(config_.StatePath("principals/adm-alice-7k2f"), "root\n");
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600)).ok());
  EXPECT_FALSE(std::filesystem::exists(config_.StatePath("principals/adm-mallory-0000")));
  EXPECT_EQ(testing::ReadAll(config_.StatePath("principals/adm-alice-7k2f")), "adm-alice-7k2f\n");

  // The directory is replaced by a file: the next account's file cannot be written.
  std::filesystem::remove_all(config_.StatePath("principals"));
  testing::WriteAll(config_.StatePath("principals"), "");
  ASSERT_TRUE(agent_->Apply(StateWith("adm-bob-aaaa", kNow + 600, 2, 1879048300)).ok());
  agent_->Enforce();
  EXPECT_TRUE(std::filesystem::is_regular_file(config_.StatePath("principals")));
  // Once it can be, the next tick writes it; nothing else had to change.
  std::filesystem::remove(config_.StatePath("principals"));
  agent_->Enforce();
  EXPECT_EQ(testing::ReadAll(config_.StatePath("principals/adm-bob-aaaa")), "adm-bob-aaaa\n");
  EXPECT_FALSE(std::filesystem::exists(config_.StatePath("principals/adm-alice-7k2f")));
}

TEST_F(Agent, VisudoRejectionKeepsThePreviousSudoers) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600)).ok());
  const std::string before = testing::ReadAll(config_.sudoers_file);
  auto st = StateWith("adm-carol-bbbb", kNow + 600, 2, 1879048300);
  st.accounts[0].sudo_rule = "ALL=(ALL NOPASSWD: ALL";  // unbalanced: visudo refuses
  ASSERT_TRUE(agent_->Apply(st).ok());  // the account itself still arrives
  EXPECT_EQ(testing::ReadAll(config_.sudoers_file), before);
  EXPECT_EQ(access((dir_ / "sudoers.d/.warden-candidate").c_str(), F_OK), -1);
}

TEST_F(Agent, SocketRefusesOversizedMalformedAndSlowRequests) {
  auto raw = [&](const std::string& bytes, bool wait_eof) {
    int fd = warden_agent_connect(config_.agent_socket.c_str(), 5000);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    std::string got;
    char buf[512];
    ssize_t n;
    while (wait_eof && (n = recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
    close(fd);
    return got;
  };
  // 16 MiB announced: closed without a reply.
  EXPECT_EQ(raw(std::string("\x01\x00\x00\x00", 4), true), "");
  // Garbage body: a DENY reply, then closed.
  std::string reply = raw(std::string("\x00\x00\x00\x03\xff\xff\xff", 7), true);
  ASSERT_GE(reply.size(), 4u);
  warden_agent_reply r;
  ASSERT_EQ(warden_agent_decode_reply(reinterpret_cast<const uint8_t*>(reply.data()) + 4,
                                      reply.size() - 4, &r), 0);
  EXPECT_EQ(r.verdict, WARDEN_VERDICT_DENY);
  EXPECT_STREQ(r.message, "Warden: malformed request");
  // Truncated request: closed at the deadline, and the server keeps serving others meanwhile.
  int slow = warden_agent_connect(config_.agent_socket.c_str(), 5000);
  ASSERT_EQ(send(slow, "\x00\x00\x00\x10" "ab", 6, MSG_NOSIGNAL), 6);
  EXPECT_EQ(Check("anyone").verdict(), v1::AgentResponse::NOT_MANAGED);
  char c;
  EXPECT_EQ(recv(slow, &c, 1, 0), 0);  // EOF after kRequestDeadlineMs
  close(slow);
}

TEST_F(Agent, OnlyRootAndThePrincipalsUserMayAsk) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600)).ok());
  passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  chmod(dir_.path().c_str(), 0755);
  auto as_nobody = [&](const v1::AgentRequest& req) {
    int pipefd[2];
    EXPECT_EQ(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
      if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0) _exit(2);
      auto r = CallAgent(config_.agent_socket, req);
      std::string out = r.ok() ? r->SerializeAsString() : "";
      if (write(pipefd[1], out.data(), out.size()) < 0) _exit(3);
      _exit(r.ok() ? 0 : 1);
    }
    close(pipefd[1]);
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    v1::AgentResponse resp;
    resp.ParseFromString(out);
    return resp;
  };
  v1::AgentRequest principals;
  principals.mutable_principals()->set_user("adm-alice-7k2f");
  auto p = as_nobody(principals);
  ASSERT_EQ(p.principals_size(), 1);
  EXPECT_EQ(p.principals(0), "adm-alice-7k2f");
  v1::AgentRequest open;
  open.mutable_session_open()->set_user("adm-alice-7k2f");
  auto refused = as_nobody(open);
  EXPECT_EQ(refused.verdict(), v1::AgentResponse::DENY);
  EXPECT_NE(refused.message().find("may not make this call"), std::string::npos);
}

// The socket is 0660 in the principals user's group: any other local user cannot connect.
TEST_F(Agent, OtherLocalUsersCannotEvenConnect) {
  chmod(dir_.path().c_str(), 0755);
  const pid_t outsider = fork();
  if (outsider == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(54321) != 0 || setuid(54321) != 0) _exit(2);
    const int fd = warden_agent_connect(config_.agent_socket.c_str(), 1000);
    _exit(fd < 0 && errno == EACCES ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(outsider, &status, 0), outsider);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "uid 54321 could connect to the agent socket (exit " << WEXITSTATUS(status) << ")";
}

// The limits still hold for an account that shares the principals user's group (another
// service running as nogroup, say): it can connect, and every call it makes is refused.
TEST_F(Agent, AnUnprivilegedFloodAndPeersThatNeverReadCannotStarveOrStallTheSocket) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600)).ok());
  chmod(dir_.path().c_str(), 0755);
  passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const gid_t group = nobody->pw_gid;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t attacker = fork();
  if (attacker == 0) {
    close(ready[0]);
    rlimit many{8192, 8192};
    if (setrlimit(RLIMIT_NOFILE, &many) != 0 || setgid(group) != 0 || setuid(54321) != 0) _exit(2);
    // Peers that send request after request and never read a reply...
    v1::AgentRequest req;
    req.mutable_account()->set_user("adm-alice-7k2f");
    const std::string body = req.SerializeAsString();
    const std::string frame = std::string{0, 0, static_cast<char>(body.size() >> 8),
                                          static_cast<char>(body.size())} + body;
    for (int i = 0; i < 8; i++) {
      const int fd = warden_agent_connect(config_.agent_socket.c_str(), 1000);
      if (fd < 0) continue;
      fcntl(fd, F_SETFL, O_NONBLOCK);
      for (int k = 0; k < 2000; k++) send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    }
    // ...and as many idle connections as the descriptors allow.
    for (int i = 0; i < 6000; i++) warden_agent_connect(config_.agent_socket.c_str(), 200);
    if (write(ready[1], "x", 1) != 1) _exit(3);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  // Root's calls (the PAM module's) and the principals user's are answered while it goes on.
  for (int i = 0; i < 20; i++) {
    v1::AgentRequest req;
    req.mutable_account()->set_user("adm-alice-7k2f");
    auto r = CallAgent(config_.agent_socket, req, 2000);
    ASSERT_TRUE(r.ok()) << "call " << i << ": " << r.status().message();
    EXPECT_EQ(r->verdict(), v1::AgentResponse::ALLOW);
  }
  const pid_t principals = fork();
  if (principals == 0) {
    if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0) _exit(2);
    v1::AgentRequest req;
    req.mutable_principals()->set_user("adm-alice-7k2f");
    auto r = CallAgent(config_.agent_socket, req, 2000);
    _exit(r.ok() && r->principals_size() == 1 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(principals, &status, 0), principals);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "warden-principals' call failed";
  kill(attacker, SIGKILL);
  waitpid(attacker, nullptr, 0);
}

TEST_F(Agent, AnUnprivilegedPeerThatKeepsTheLoopBusyIsClosedAtItsDeadline) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600)).ok());
  chmod(dir_.path().c_str(), 0755);
  passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const gid_t group = nobody->pw_gid;  // in the principals user's group, so it can connect
  const pid_t busy = fork();
  if (busy == 0) {
    if (setgid(group) != 0 || setuid(54321) != 0) _exit(2);
    const int fd = warden_agent_connect(config_.agent_socket.c_str(), 1000);
    if (fd < 0) _exit(3);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    const std::string empties(4096, '\0');  // 1024 empty requests a write, each answered
    char buf[4096];
    for (int i = 0; i < 10000; i++) {  // about 10 s at most
      if (send(fd, empties.data(), empties.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN) _exit(0);
      ssize_t n;
      while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
      }
      if (n == 0 || (n < 0 && errno != EAGAIN)) _exit(0);  // wardend closed it
      usleep(1000);
    }
    _exit(1);
  }
  for (int i = 0; i < 10; i++) {
    EXPECT_EQ(Check("adm-alice-7k2f").verdict(), v1::AgentResponse::ALLOW) << "call " << i;
  }
  int status = 0;
  ASSERT_EQ(waitpid(busy, &status, 0), busy);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "a peer that keeps asking is never closed (exit " << WEXITSTATUS(status) << ")";
}

TEST_F(Agent, AFailedLeaseEndStaysEndingIsRetriedWithBackoffAndAlerted) {
  const uint32_t uid = 1879048192;
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600, 1, uid)).ok());
  // The account made its home deeper than the removal descends.
  const std::string home = config_.home_root + "/adm-alice-7k2f";
  ASSERT_TRUE(CreateHome(home, uid, uid).ok());
  std::string deep = home;
  for (int i = 0; i <= kMaxHomeDepth + 1; i++) {
    deep += "/d";
    ASSERT_EQ(mkdir(deep.c_str(), 0700), 0);
  }
  ASSERT_TRUE(agent_->Apply(StateWith("", 0, 2)).ok());  // revoked
  agent_->Enforce();
  std::vector<EndedAccount> reports = agent_->PendingReports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_FALSE(reports[0].cleaned) << "an incomplete end is never counted as done";
  EXPECT_EQ(reports[0].attempts, 1);
  EXPECT_NE(reports[0].error.find("nested deeper than"), std::string::npos) << reports[0].error;
  agent_->MarkReported(reports[0]);  // the controller took the alert
  EXPECT_TRUE(agent_->PendingReports().empty());
  EXPECT_EQ(Check("adm-alice-7k2f").verdict(), v1::AgentResponse::DENY) << "still ended for logins";

  agent_->Enforce();  // within the backoff: not tried again yet
  now_ += 1;
  agent_->Enforce();  // tried again, failed again: alerted again
  reports = agent_->PendingReports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].attempts, 2);
  agent_->MarkReported(reports[0]);

  std::filesystem::remove_all(home + "/d");  // an admin clears it
  now_ += 1;
  agent_->Enforce();
  EXPECT_TRUE(agent_->PendingReports().empty()) << "the next attempt waits out the backoff (2 s)";
  now_ += 1;
  agent_->Enforce();
  reports = agent_->PendingReports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].cleaned);
  EXPECT_TRUE(reports[0].home_removed);
  EXPECT_FALSE(std::filesystem::exists(home));
}

// visudo that waits until the test lets it go, as a slow disk or a loaded host would.
class AgentSlowVisudo : public Agent {
 protected:
  void SetUp() override {
    ASSERT_EQ(mkfifo((dir_ / "gate").c_str(), 0600), 0);
    testing::WriteAll(dir_ / "visudo", "#!/bin/sh\ntouch " + dir_ / "started" + "\nread x < " +
                                           dir_ / "gate" + "\nexec /usr/sbin/visudo \"$@\"\n");
    ASSERT_EQ(chmod((dir_ / "visudo").c_str(), 0755), 0);
    config_.visudo = dir_ / "visudo";
    Agent::SetUp();
  }
};

TEST_F(AgentSlowVisudo, ThePamModulesChecksAreAnsweredWhileTheFilesAreWritten) {
  auto apply = std::async(std::launch::async, [&] {
    return agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600));
  });
  for (int i = 0; i < 500 && access((dir_ / "started").c_str(), F_OK) != 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(access((dir_ / "started").c_str(), F_OK), 0) << "visudo never ran";
  v1::AgentRequest req;
  req.mutable_account()->set_user("adm-alice-7k2f");
  auto during = CallAgent(config_.agent_socket, req, 3000);
  const int gate = open((dir_ / "gate").c_str(), O_WRONLY);
  ASSERT_GE(gate, 0);
  ASSERT_EQ(write(gate, "go\n", 3), 3);
  close(gate);
  ASSERT_TRUE(apply.get().ok());
  ASSERT_TRUE(during.ok()) << "a PAM check waited behind visudo: " << during.status().message();
  EXPECT_EQ(during->verdict(), v1::AgentResponse::ALLOW);
  EXPECT_NE(testing::ReadAll(config_.sudoers_file).find("adm-alice-7k2f"), std::string::npos);
}

AgentCall OpenRequest(const std::string& user) {
  return SessionOpen{.user = user, .service = "sshd", .tty = "", .rhost = "", .pid = 0};
}

class AgentSessionCap : public Agent {
 protected:
  void SetUp() override {
    config_.max_sessions_per_account = 2;
    Agent::SetUp();
  }
};

TEST_F(AgentSessionCap, OneAccountCannotHoldMoreSessionsThanItsCap) {
  HostState two = StateWith("adm-alice-7k2f", kNow + 600, 2);
  two.accounts.push_back(StateWith("adm-bob-aaaa", kNow + 600, 2, 1879048193).accounts[0]);
  ASSERT_TRUE(agent_->Apply(two).ok());
  const ucred sshd{.pid = 0, .uid = 0, .gid = 0};  // pid 0: nothing to end on refusal
  EXPECT_FALSE(agent_->Handle(OpenRequest("adm-alice-7k2f"), sshd, 1001).session_id.empty());
  EXPECT_FALSE(agent_->Handle(OpenRequest("adm-alice-7k2f"), sshd, 1002).session_id.empty());
  AgentReply third = agent_->Handle(OpenRequest("adm-alice-7k2f"), sshd, 1003);
  EXPECT_EQ(third.verdict, AgentVerdict::kDeny);
  EXPECT_NE(third.message.find("already has 2 sessions open on this host"), std::string::npos)
      << third.message;
  EXPECT_FALSE(agent_->Handle(OpenRequest("adm-bob-aaaa"), sshd, 1004).session_id.empty())
      << "another account is not limited by alice's sessions";
  agent_->ConnectionClosed(1001);
  EXPECT_FALSE(agent_->Handle(OpenRequest("adm-alice-7k2f"), sshd, 1005).session_id.empty())
      << "a session that ended frees its place";
}


// Session cgroups whose Confine waits at a gate.
class GatedCgroups : public SessionCgroups, public testing::Gate {
 public:
  absl::Status Confine(uint32_t, const std::string&, pid_t) override {
    Pass();
    return absl::OkStatus();
  }
  void Release(uint32_t, const std::string&) override {}
  absl::Status Freeze(uint32_t, const std::string&, bool) override { return absl::OkStatus(); }
  absl::StatusOr<int> KillSession(uint32_t, const std::string&, int64_t) override { return 0; }
  absl::StatusOr<std::map<uint32_t, int>> KillAccounts(const std::set<uint32_t>& uids,
                                                       int64_t) override {
    std::lock_guard lock(mu_);
    kills_++;
    if (std::exchange(fail_next_kill_, false)) return absl::DeadlineExceededError("would not empty");
    killed_.insert(uids.begin(), uids.end());
    return std::map<uint32_t, int>{};
  }
  void FailNextKill() {
    std::lock_guard lock(mu_);
    fail_next_kill_ = true;
  }
  int kills() {
    std::lock_guard lock(mu_);
    return kills_;
  }
  std::vector<pid_t> Processes(uint32_t, const std::string&) override { return {}; }
  std::vector<std::pair<uint32_t, std::string>> Sessions() override { return {}; }
  std::string Describe() const override { return "gated"; }
  std::set<uint32_t> killed() {
    std::lock_guard lock(mu_);
    return killed_;
  }

 private:
  std::mutex mu_;
  bool fail_next_kill_ = false;
  int kills_ = 0;
  std::set<uint32_t> killed_;
};

// A recorder whose registration of a session waits at a gate (binding it, or a strict role's wait
// for the controller).
class GatedObserver : public SessionObserver, public testing::Gate {
 public:
  absl::Status SessionOpened(const HostSession&, const LocalAccount&, pid_t) override {
    Pass();
    return absl::OkStatus();
  }
  void SessionEnded(const HostSession& s) override {
    std::lock_guard lock(mu_);
    ended_.push_back(s.id);
  }
  void EndSession(const HostSession&, const std::string&) override {}
  void PauseSession(const HostSession&, const std::string&) override {}
  void ResumeSession(const HostSession&, const std::string&) override {}
  std::vector<std::string> ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> ended_;
};

TEST_F(Agent, ALeaseThatEndsWhileALoginIsConfinedEndsThatLoginToo) {
  const uint32_t uid = 1879048192;
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600, 1, uid)).ok());
  GatedCgroups cgroups;
  agent_->SetSessionCgroups(&cgroups, absl::OkStatus());
  const ucred sshd{.pid = 0, .uid = 0, .gid = 0};
  auto login = std::async(std::launch::async, [&] {
    return agent_->Handle(OpenRequest("adm-alice-7k2f"), sshd, 2001);
  });
  cgroups.WaitEntered();
  // Confinement (a /proc walk, a D-Bus call) does not hold the agent: the controller's revocation
  // goes on meanwhile.
  auto revoke = std::async(std::launch::async, [&] { return agent_->Apply(StateWith("", 0, 2)); });
  const bool revoked_meanwhile = revoke.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (revoked_meanwhile) agent_->Enforce();  // the lease end runs (and completes) meanwhile too
  EXPECT_EQ(cgroups.kills(), revoked_meanwhile ? 1 : 0);
  cgroups.FailNextKill();  // ending the late cgroup fails at first
  cgroups.LetGo();
  EXPECT_TRUE(revoked_meanwhile) << "the revocation waited for a login's confinement";
  EXPECT_TRUE(revoke.get().ok());
  const AgentReply r = login.get();
  EXPECT_EQ(r.verdict, AgentVerdict::kDeny);
  EXPECT_NE(r.message.find("has ended (revoked"), std::string::npos) << r.message;
  EXPECT_TRUE(agent_->Sessions().empty());
  agent_->Enforce();
  EXPECT_EQ(cgroups.kills(), 3) << "the failed end of the late cgroup is retried by the lease end";
  EXPECT_EQ(cgroups.killed(), std::set<uint32_t>{uid})
      << "the cgroup made after the lease end ran is ended as well";
  agent_->SetSessionCgroups(nullptr, absl::OkStatus());
}

TEST_F(Agent, ARevocationDoesNotWaitForTheRecorderToRegisterALogin) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 600)).ok());
  GatedObserver recorder;
  agent_->SetSessionObserver(&recorder);
  const ucred sshd{.pid = 0, .uid = 0, .gid = 0};
  auto login = std::async(std::launch::async, [&] {
    return agent_->Handle(OpenRequest("adm-alice-7k2f"), sshd, 3001);
  });
  recorder.WaitEntered();
  auto revoke = std::async(std::launch::async, [&] { return agent_->Apply(StateWith("", 0, 2)); });
  const bool revoked_meanwhile = revoke.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  recorder.LetGo();
  EXPECT_TRUE(revoked_meanwhile) << "the revocation waited for the recorder";
  EXPECT_TRUE(revoke.get().ok());
  const AgentReply r = login.get();
  EXPECT_EQ(r.verdict, AgentVerdict::kDeny) << "the lease ended while the login opened";
  EXPECT_EQ(recorder.ended().size(), 1u) << "its recording is ended";
  EXPECT_TRUE(agent_->Sessions().empty());
  agent_->SetSessionObserver(nullptr);
}

TEST(AgentWire, TheCEncodingIsWhatProtobufReads) {
  uint8_t buf[1024];
  size_t n = warden_agent_encode_session_open(buf, sizeof buf, "adm-alice-7k2f", "sshd",
                                              "/dev/pts/3", 4242, "10.1.2.3");
  ASSERT_GT(n, 4u);
  EXPECT_EQ((size_t{buf[2]} << 8 | buf[3]) + 4, n);
  v1::AgentRequest req;
  ASSERT_TRUE(req.ParseFromArray(buf + 4, static_cast<int>(n - 4)));
  EXPECT_EQ(req.session_open().user(), "adm-alice-7k2f");
  EXPECT_EQ(req.session_open().service(), "sshd");
  EXPECT_EQ(req.session_open().tty(), "/dev/pts/3");
  EXPECT_EQ(req.session_open().pid(), 4242);
  EXPECT_EQ(req.session_open().rhost(), "10.1.2.3");

  n = warden_agent_encode_account(buf, sizeof buf, "u", nullptr, "h");
  ASSERT_TRUE(req.ParseFromArray(buf + 4, static_cast<int>(n - 4)));
  EXPECT_EQ(req.account().user(), "u");
  EXPECT_EQ(req.account().rhost(), "h");
  n = warden_agent_encode_session_close(buf, sizeof buf, "s-1");
  ASSERT_TRUE(req.ParseFromArray(buf + 4, static_cast<int>(n - 4)));
  EXPECT_EQ(req.session_close().session_id(), "s-1");
  // Too small a buffer: nothing, never a partial frame.
  EXPECT_EQ(warden_agent_encode_account(buf, 8, "adm-alice-7k2f", "sshd", ""), 0u);

  v1::AgentResponse resp;
  resp.set_verdict(v1::AgentResponse::DENY);
  resp.set_message(std::string("lease\x1b[31m ended") + std::string(600, 'x'));
  resp.set_session_id("s-abc");
  resp.add_principals("p");
  const std::string body = resp.SerializeAsString();
  warden_agent_reply r;
  ASSERT_EQ(warden_agent_decode_reply(reinterpret_cast<const uint8_t*>(body.data()), body.size(), &r), 0);
  EXPECT_EQ(r.verdict, WARDEN_VERDICT_DENY);
  EXPECT_EQ(std::string(r.message).substr(0, 15), "lease?[31m ende");  // no escape sequences
  EXPECT_EQ(strlen(r.message), sizeof r.message - 1);
  EXPECT_STREQ(r.session_id, "s-abc");
  EXPECT_EQ(warden_agent_decode_reply(reinterpret_cast<const uint8_t*>(body.data()), body.size() - 1, &r), -1);
}

TEST(Enforcer, KillsEveryProcessOfTheUidAndRemovesOnlyItsHome) {
  testing::TempDir dir;
  const uint32_t uid = 1879999999;
  pid_t child = fork();
  if (child == 0) {
    signal(SIGTERM, SIG_IGN);  // must take the SIGKILL
    if (setuid(uid) != 0) _exit(2);
    pause();
    _exit(0);
  }
  usleep(100000);
  auto killed = KillUidProcesses({uid}, 200, 5000);
  ASSERT_TRUE(killed.ok()) << killed.status().message();
  EXPECT_GE((*killed)[uid], 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  const std::string home = dir / "home";
  ASSERT_TRUE(CreateHome(home, uid, uid).ok());
  ASSERT_EQ(symlink("/etc", (home + "/etc-link").c_str()), 0);
  testing::WriteAll(home + "/file", "x");
  EXPECT_FALSE(RemoveHome(home, uid + 1).ok()) << "someone else's directory is left alone";
  auto removed = RemoveHome(home, uid);
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_TRUE(*removed);
  EXPECT_EQ(access(home.c_str(), F_OK), -1);
  EXPECT_EQ(access("/etc/passwd", F_OK), 0) << "symlinks are removed, never followed";
  EXPECT_FALSE(*RemoveHome(home, uid));
}

class EndsSeen : public SessionObserver {
 public:
  absl::Status SessionOpened(const HostSession&, const LocalAccount&, pid_t) override {
    return absl::OkStatus();
  }
  void SessionEnded(const HostSession& s) override {
    std::lock_guard lock(mu_);
    ended_.push_back(s.id);
  }
  void EndSession(const HostSession&, const std::string&) override {}
  void PauseSession(const HostSession&, const std::string&) override {}
  void ResumeSession(const HostSession&, const std::string&) override {}
  std::vector<std::string> ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> ended_;
};

// A restart: the running session is handed over (its connection closing does not end it), the
// next run takes it up without a connection, and it ends when the process that opened it exits.
TEST_F(Agent, AHandedOverSessionOutlivesItsConnectionAndEndsWithItsOpener) {
  EndsSeen seen;
  agent_->SetSessionObserver(&seen);
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", kNow + 60)).ok());
  const ucred sshd{.pid = getpid(), .uid = 0, .gid = 0};
  const std::string id = agent_->Handle(OpenRequest("adm-alice-7k2f"), sshd, 1001).session_id;
  ASSERT_FALSE(id.empty());
  std::vector<HostSession> handed = agent_->HandOver();
  ASSERT_EQ(handed.size(), 1u);
  EXPECT_EQ(handed[0].id, id);
  EXPECT_EQ(handed[0].root, getpid()) << "the opener is the socket's peer";
  EXPECT_EQ(handed[0].root_start, ProcessStartTicks(getpid()));
  EXPECT_TRUE(agent_->Sessions().empty());
  agent_->ConnectionClosed(1001);  // the old run's connections close as it exits
  EXPECT_TRUE(seen.ended().empty()) << "a handed-over session does not end with its connection";

  const pid_t opener = fork();
  if (opener == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(opener, 0);
  HostSession s = handed[0];
  s.root = opener;
  s.root_start = ProcessStartTicks(opener);
  agent_->Adopt(s);
  agent_->Enforce();
  ASSERT_EQ(agent_->Sessions().size(), 1u) << "its opener runs: the session goes on";
  EXPECT_TRUE(agent_->Account("adm-alice-7k2f").has_value());
  EXPECT_FALSE(agent_->Account("someone-else").has_value());
  kill(opener, SIGKILL);
  waitpid(opener, nullptr, 0);
  agent_->Enforce();
  EXPECT_TRUE(agent_->Sessions().empty());
  EXPECT_EQ(seen.ended(), std::vector<std::string>{s.id});
}

}  // namespace
}  // namespace warden
