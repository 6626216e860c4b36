#include "gateway/session_text.h"

#include <gtest/gtest.h>

#include "gateway/sshgw_config.h"
#include "tests/test_util.h"

namespace warden {
namespace {

TEST(BrokerUser, LoginAtTargetOrLoginAlone) {
  auto both = ParseBrokerUser("bank-alice-7k2f@core");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->principal, "bank-alice-7k2f");
  EXPECT_EQ(both->target, "core");
  auto alone = ParseBrokerUser("bank-alice-7k2f");
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(alone->target, "");
  for (const char* bad : {"", "@core", "alice@", "a@b@c", "alice core", "alice\n@core", "al\x01ice"}) {
    EXPECT_FALSE(ParseBrokerUser(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseBrokerUser(std::string(257, 'a')).ok());
}

TEST(InputRecorder, TheLineTypedAtAPasswordPromptIsWithheld) {
  InputRecorder rec("redact");
  uint32_t lines = 0;
  rec.Output("$ ");
  auto plain = rec.Input("sudo -k\r", &lines);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(std::get<TerminalInput>(plain[0]).data, "sudo -k\r");
  rec.Output("\r\n[sudo] password for admin: ");
  auto first = rec.Input("hunt", &lines);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(std::get<InputRedacted>(first[0]).bytes, 4u);
  auto rest = rec.Input("er2\rls\r", &lines);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(std::get<InputRedacted>(rest[0]).bytes, 3u);
  EXPECT_EQ(std::get<RedactedLine>(rest[1]).bytes, 7u);
  EXPECT_EQ(std::get<RedactedLine>(rest[1]).number, 1u);
  EXPECT_EQ(std::get<TerminalInput>(rest[2]).data, "ls\r");
  // Output while a line is half typed at a prompt does not stop its redaction.
  rec.Output("\r\nPIN: ");
  EXPECT_EQ(std::get<InputRedacted>(rec.Input("12", &lines)[0]).bytes, 2u);
  rec.Output("\a(10 seconds left)\r\n");
  auto pin = rec.Input("34\r", &lines);
  ASSERT_EQ(pin.size(), 2u);
  EXPECT_EQ(std::get<RedactedLine>(pin[1]).bytes, 4u);
  EXPECT_EQ(lines, 2u);
  // The next line, after ordinary output, is kept.
  rec.Output("\r\nfile\r\n$ ");
  EXPECT_EQ(std::get<TerminalInput>(rec.Input("pwd\r", &lines)[0]).data, "pwd\r");
  EXPECT_EQ(lines, 2u);
}

TEST(InputRecorder, PromptsAreFoundAtTheEndOfTheLastLineOnly) {
  for (const char* p : {"Password: ", "Enter passphrase for key '/root/.ssh/id':", "PIN:\t",
                        "login\r\nPassword:"}) {
    EXPECT_TRUE(InputRecorder::EndsWithPasswordPrompt(p)) << p;
  }
  for (const char* p : {"$ ", "password changed\r\n$ ", "Password: ok", "Name:", ""}) {
    EXPECT_FALSE(InputRecorder::EndsWithPasswordPrompt(p)) << p;
  }
}

TEST(InputRecorder, FullKeepsEverythingAndOffNothing) {
  uint32_t lines = 0;
  InputRecorder full("full"), off("off");
  full.Output("Password: ");
  off.Output("Password: ");
  EXPECT_EQ(std::get<TerminalInput>(full.Input("secret\r", &lines)[0]).data, "secret\r");
  EXPECT_TRUE(off.Input("secret\r", &lines).empty());
}

TEST(GatewayConfig, DefaultsKeysAndMistakes) {
  testing::TempDir dir;
  testing::WriteAll(dir / "ok.yaml", "listen: \"[::1]:2022\"\nstate_dir: /tmp/gw\nmax_connections: 9\n");
  auto c = LoadGatewayConfig(dir / "ok.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->listen_address, "::1");
  EXPECT_EQ(c->listen_port, 2022);
  EXPECT_EQ(c->HostKeyPath(), "/tmp/gw/ssh_host_ed25519_key");
  testing::WriteAll(dir / "typo.yaml", "listne: 0.0.0.0:22\n");
  auto typo = LoadGatewayConfig(dir / "typo.yaml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("unknown key \"listne\""), std::string::npos);
  testing::WriteAll(dir / "port.yaml", "listen: 0.0.0.0\n");
  EXPECT_NE(LoadGatewayConfig(dir / "port.yaml").status().message().find("ADDRESS:PORT"),
            std::string::npos);
  EXPECT_FALSE(LoadGatewayConfig(dir / "missing.yaml").ok());
}

}  // namespace
}  // namespace warden
