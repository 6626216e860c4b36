// pam_warden.so through the real libpam (pam_start_confdir with a temporary service file) and
// through pamtester, against an in-process wardend.
#include <security/pam_appl.h>
#include <unistd.h>

#include <chrono>
#include <sstream>

#include "tests/daemon/fixture.h"

namespace warden {
namespace {

using testing::kNow;
using testing::StateWith;

int Converse(int n, const pam_message** msg, pam_response** resp, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  for (int i = 0; i < n; i++) out->push_back(msg[i]->msg);
  *resp = static_cast<pam_response*>(calloc(static_cast<size_t>(n), sizeof(pam_response)));
  return PAM_SUCCESS;
}

class Pam : public testing::AgentFixture {
 protected:
  void SetUp() override {
    AgentFixture::SetUp();
    // The module's view of host.yaml: the socket, the NSS cache, the break-glass list.
    testing::WriteAll(dir_ / "host.yaml",
                      "state_dir: " + config_.state_dir + "  # comment\n" +
                          "agent_socket: \"" + config_.agent_socket + "\"\n" +
                          "break_glass:\n  - root\n  - rescue\n");
    ASSERT_EQ(mkdir((dir_ / "pam.d").c_str(), 0755), 0);
    const std::string line = std::string(WARDEN_PAM_MODULE_PATH) + " config=" + (dir_ / "host.yaml");
    testing::WriteAll(dir_ / "pam.d/warden-test", "account requisite " + line + "\n" +
                                                      "account required pam_permit.so\n" +
                                                      "session required " + line + "\n");
    now_ = time(nullptr);  // the module checks the NSS cache against the real clock
  }

  struct Result {
    int acct = -1, open = -1, close = -1;
    std::vector<std::string> messages;
  };
  // account, then (if it passed) open and close a session; `end_before_close` drops the handle
  // without close_session, as a crashed sshd would.
  Result Login(const std::string& user, int flags = 0, bool end_before_close = false) {
    Result r;
    pam_conv conv{Converse, &r.messages};
    pam_handle_t* pamh = nullptr;
    EXPECT_EQ(pam_start_confdir("warden-test", user.c_str(), &conv, (dir_ / "pam.d").c_str(), &pamh),
              PAM_SUCCESS);
    pam_set_item(pamh, PAM_RHOST, "10.9.8.7");
    pam_set_item(pamh, PAM_TTY, "/dev/pts/9");
    r.acct = pam_acct_mgmt(pamh, flags);
    if (r.acct == PAM_SUCCESS) {
      r.open = pam_open_session(pamh, flags);
      if (!end_before_close) r.close = pam_close_session(pamh, flags);
    }
    pam_end(pamh, PAM_SUCCESS);
    return r;
  }
  void StopDaemon() {
    stop_ = true;
    thread_.join();
    server_.reset();  // closes and unlinks the socket
    thread_ = std::thread([] {});
  }
  bool WaitNoSessions() {
    for (int i = 0; i < 100; i++) {
      if (agent_->Sessions().empty()) return true;
      usleep(20000);
    }
    return false;
  }
};

TEST_F(Pam, ValidLeaseLogsInAndRegistersTheSession) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", now_ + 600)).ok());
  Result r = Login("adm-alice-7k2f", 0, /*end_before_close=*/true);
  EXPECT_EQ(r.acct, PAM_SUCCESS);
  EXPECT_EQ(r.open, PAM_SUCCESS);
  // pam_end without close_session: the connection's end is the session's end.
  EXPECT_TRUE(WaitNoSessions());
  EXPECT_EQ(access((dir_ / "home/adm-alice-7k2f").c_str(), F_OK), 0) << "home made at open";

  r = Login("adm-alice-7k2f");
  EXPECT_EQ(r.close, PAM_SUCCESS);
  EXPECT_TRUE(agent_->Sessions().empty());
  EXPECT_TRUE(r.messages.empty());
}

TEST_F(Pam, EndedLeaseIsRefusedWithItsReason) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", now_ + 600)).ok());
  ASSERT_TRUE(agent_->Apply(StateWith("", 0, 2)).ok());  // revoked
  agent_->Enforce();
  Result r = Login("adm-alice-7k2f");
  EXPECT_EQ(r.acct, PAM_PERM_DENIED);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_NE(r.messages[0].find("has ended (revoked"), std::string::npos) << r.messages[0];
  // PAM_SILENT: the same refusal, no message.
  r = Login("adm-alice-7k2f", PAM_SILENT);
  EXPECT_EQ(r.acct, PAM_PERM_DENIED);
  EXPECT_TRUE(r.messages.empty());
}

TEST_F(Pam, UnmanagedUsersAreIgnored) {
  Result r = Login("ordinary-user");
  EXPECT_EQ(r.acct, PAM_SUCCESS);  // pam_permit decides
  EXPECT_TRUE(agent_->Sessions().empty());
}

TEST_F(Pam, DaemonDownRefusesWardenAccountsOnlyAndBreakGlassAlwaysWorks) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", now_ + 600)).ok());
  StopDaemon();
  Result r = Login("adm-alice-7k2f");
  EXPECT_EQ(r.acct, PAM_PERM_DENIED);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_NE(r.messages[0].find("not reachable"), std::string::npos);
  EXPECT_EQ(Login("rescue").acct, PAM_SUCCESS);
  EXPECT_EQ(Login("root").acct, PAM_SUCCESS);
  EXPECT_EQ(Login("ordinary-user").acct, PAM_SUCCESS);
}

TEST_F(Pam, PamtesterAgreesThroughARealServiceFile) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", now_ + 600)).ok());
  ASSERT_TRUE(agent_->Apply(StateWith("adm-bob-bbbb", now_ + 600, 2, 1879048300)).ok());
  ASSERT_TRUE(agent_->Apply(StateWith("", 0, 3)).ok());  // bob's grant revoked
  agent_->Enforce();
  ASSERT_TRUE(agent_->Apply(StateWith("adm-carol-cccc", now_ + 600, 5, 1879048400)).ok());
  auto pamtester = [&](const std::string& user) {
    return testing::RunCommand("unshare -m sh -c 'mount --bind " + (dir_ / "pam.d") +
                               " /etc/pam.d && exec pamtester -v warden-test " + user +
                               " acct_mgmt open_session close_session' 2>&1");
  };
  auto ok = pamtester("adm-carol-cccc");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("session has successfully been closed"), std::string::npos) << ok.output;
  auto refused = pamtester("adm-bob-bbbb");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("has ended"), std::string::npos) << refused.output;
}

TEST(PamModule, LinksOnlyLibcAndLibpamAndExportsOnlyTheHooks) {
  auto r = testing::RunCommand(std::string("readelf -d ") + WARDEN_PAM_MODULE_PATH);
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("[libpam.so.0]"), std::string::npos);
  EXPECT_EQ(r.output.find("libstdc++"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libgcc_s"), std::string::npos) << r.output;
  auto syms = testing::RunCommand(std::string("nm -D --defined-only ") + WARDEN_PAM_MODULE_PATH);
  std::istringstream lines(syms.output);
  int hooks = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" T ") == std::string::npos) continue;
    EXPECT_NE(line.find(" pam_sm_"), std::string::npos) << "unexpected export: " << line;
    hooks++;
  }
  EXPECT_EQ(hooks, 3);
}

TEST(PrincipalsCommand, LinksOnlyLibc) {
  auto r = testing::RunCommand(std::string("readelf -d ") + WARDEN_PRINCIPALS_PATH);
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("[libc.so.6]"), std::string::npos);
  EXPECT_EQ(r.output.find("libstdc++"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libpam"), std::string::npos) << r.output;
}

TEST_F(Pam, PrincipalsCommandVouchesOnlyForValidLeases) {
  ASSERT_TRUE(agent_->Apply(StateWith("adm-alice-7k2f", now_ + 600)).ok());
  const std::string cmd = std::string(WARDEN_PRINCIPALS_PATH) + " --config " + (dir_ / "host.yaml");
  auto ok = testing::RunCommand(cmd + " adm-alice-7k2f");
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.output, "adm-alice-7k2f\n");
  auto other = testing::RunCommand(cmd + " someone-else");
  EXPECT_EQ(other.exit_code, 0);
  EXPECT_EQ(other.output, "");
  StopDaemon();
  auto down = testing::RunCommand(cmd + " adm-alice-7k2f 2>&1");
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.output.find("wardend is not reachable"), std::string::npos) << down.output;
  EXPECT_EQ(down.output.find("adm-alice-7k2f\n"), std::string::npos);
}

}  // namespace
}  // namespace warden
