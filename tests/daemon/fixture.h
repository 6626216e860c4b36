// A wardend without the controller: HostAgent over a temporary state directory and an
// AgentServer on a temporary socket, both running in this process.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "daemon/agent_server.h"
#include "daemon/host_agent.h"
#include "tests/test_util.h"

namespace warden::testing {

inline constexpr int64_t kNow = 1800000000;

// A controller HostState with one account `login` whose lease ends at `expires`.
inline HostState StateWith(const std::string& login, int64_t expires, int64_t revision = 1,
                           uint32_t uid = 1879048192) {
  HostState st;
  st.revision = revision;
  st.trusted_user_ca_keys = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv1 user-ca-0-1"};
  if (!login.empty()) {
    GrantedAccount a;
    a.login = login;
    a.uid = uid;
    a.gid = uid;
    a.gecos = "Warden alice g-1";
    a.shell = "/bin/sh";
    a.expires_unix = expires;
    a.groups = {"warden-admins"};
    a.sudo_rule = "ALL=(ALL) NOPASSWD: ALL";
    a.grant_id = "g-1";
    a.user = "alice";
    st.accounts.push_back(std::move(a));
    st.groups.push_back({"warden-admins", uid + 1000, {login}});
  }
  return st;
}

class AgentFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.state_dir = dir_ / "state";
    config_.nss_cache = dir_ / "state/nss.cache";
    config_.sudoers_file = dir_ / "sudoers.d/warden";
    config_.agent_socket = dir_ / "agent.sock";
    config_.home_root = dir_ / "home";
    config_.break_glass = {"root", "rescue"};
    config_.kill_grace_ms = 200;
    for (const char* d : {"state", "sudoers.d", "home"}) ASSERT_EQ(mkdir((dir_ / d).c_str(), 0755), 0);
    agent_ = std::make_unique<HostAgent>(config_, LocalState{}, [this] { return now_.load(); });
    server_ = std::make_unique<AgentServer>(*agent_);
    ASSERT_TRUE(server_->Listen(config_.agent_socket).ok());
    thread_ = std::thread([this] { server_->Run(stop_); });
  }
  void TearDown() override {
    stop_ = true;
    thread_.join();
  }

  TempDir dir_;
  HostConfig config_;
  std::atomic<int64_t> now_{kNow};
  std::unique_ptr<HostAgent> agent_;
  std::unique_ptr<AgentServer> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace warden::testing
