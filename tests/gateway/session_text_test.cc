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

// SFTP packets as OpenSSH's client and server send them (length, type, id, fields).
std::string U32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string Str(const std::string& s) { return U32(static_cast<uint32_t>(s.size())) + s; }
std::string Packet(uint8_t type, const std::string& body) {
  return U32(static_cast<uint32_t>(body.size() + 1)) + static_cast<char>(type) + body;
}

TEST(SftpWatcher, FilesWithTheirSizesRenamesAndRemoves) {
  SftpWatcher w;
  // A put of 5000 bytes, split across writes mid-packet as a channel may deliver it.
  const std::string put = Packet(1, U32(3)) + Packet(3, U32(7) + Str("/tmp/up.bin") + U32(0x1a) + U32(0));
  EXPECT_TRUE(w.FromClient(put.substr(0, 9)).empty());
  EXPECT_TRUE(w.FromClient(put.substr(9)).empty());
  EXPECT_TRUE(w.FromServer(Packet(102, U32(7) + Str("h1"))).empty());
  const std::string data(5000, 'x');
  const std::string write = Packet(6, U32(8) + Str("h1") + U32(0) + U32(0) + Str(data));
  EXPECT_TRUE(w.FromClient(write.substr(0, 100)).empty());
  EXPECT_TRUE(w.FromClient(write.substr(100)).empty());
  auto closed = w.FromClient(Packet(4, U32(9) + Str("h1")));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].argv, (std::vector<std::string>{"write", "/tmp/up.bin", "5000"}));
  // A get: the bytes of its DATA responses count.
  w.FromClient(Packet(3, U32(10) + Str("/etc/motd") + U32(1) + U32(0)));
  w.FromServer(Packet(102, U32(10) + Str("h2")));
  w.FromClient(Packet(5, U32(11) + Str("h2") + U32(0) + U32(0) + U32(32768)));
  w.FromServer(Packet(103, U32(11) + Str(std::string(286, 'm'))));
  auto renamed = w.FromClient(Packet(18, U32(12) + Str("/a") + Str("/b")) + Packet(13, U32(13) + Str("/c")));
  ASSERT_EQ(renamed.size(), 2u);
  EXPECT_EQ(renamed[0].argv, (std::vector<std::string>{"rename", "/a", "/b"}));
  EXPECT_EQ(renamed[1].argv, (std::vector<std::string>{"remove", "/c"}));
  // Still open when the channel ends.
  auto left = w.Close();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].argv, (std::vector<std::string>{"read", "/etc/motd", "286"}));
}

TEST(SftpWatcher, AnOversizedOrFailedPacketStopsOnlyTheWatch) {
  SftpWatcher w;
  // An open the server refuses (STATUS) leaves nothing behind.
  w.FromClient(Packet(3, U32(1) + Str("/root/x") + U32(1) + U32(0)));
  w.FromServer(Packet(101, U32(1) + U32(3)));
  EXPECT_TRUE(w.Close().empty());
  auto bad = w.FromClient(U32(1 << 30) + "junk");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].argv[0], "unparsed");
  EXPECT_TRUE(w.FromClient(Packet(13, U32(2) + Str("/c"))).empty());
  // A reused request id: each answer goes to the open it answers, in order.
  SftpWatcher ids;
  ids.FromClient(Packet(3, U32(1) + Str("/etc/passwd") + U32(2) + U32(0)) +
                 Packet(3, U32(1) + Str("/tmp/x") + U32(2) + U32(0)));
  ids.FromServer(Packet(102, U32(1) + Str("ha")) + Packet(102, U32(1) + Str("hb")));
  ids.FromClient(Packet(6, U32(2) + Str("ha") + U32(0) + U32(0) + Str("root::0:0::/:/bin/sh\n")));
  auto both = ids.Close();
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].argv, (std::vector<std::string>{"write", "/etc/passwd", "21"}));
  EXPECT_EQ(both[1].argv, (std::vector<std::string>{"write", "/tmp/x", "0"}));
  // Links and attribute changes are recorded too.
  auto meta = ids.FromClient(Packet(20, U32(3) + Str("/a") + Str("/b")) +
                             Packet(9, U32(4) + Str("/etc/shadow") + U32(0)));
  ASSERT_EQ(meta.size(), 2u);
  EXPECT_EQ(meta[0].argv, (std::vector<std::string>{"symlink", "/a", "/b"}));
  EXPECT_EQ(meta[1].argv, (std::vector<std::string>{"setstat", "/etc/shadow"}));
  // Truncated fields inside a packet are ignored, not read past.
  SftpWatcher t;
  EXPECT_TRUE(t.FromClient(Packet(18, U32(3) + U32(100) + "ab")).empty());
}

TEST(GatewayConfig, DefaultsKeysAndMistakes) {
  testing::TempDir dir;
  testing::WriteAll(dir / "ok.yaml", "listen: \"[::1]:2022\"\nstate_dir: /tmp/gw\nmax_connections: 9\n");
  auto c = LoadGatewayConfig(dir / "ok.yaml", kSshGatewayDefaults);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->listen_address, "::1");
  EXPECT_EQ(c->listen_port, 2022);
  EXPECT_EQ(c->HostKeyPath(), "/tmp/gw/ssh_host_ed25519_key");
  testing::WriteAll(dir / "typo.yaml", "listne: 0.0.0.0:22\n");
  auto typo = LoadGatewayConfig(dir / "typo.yaml", kSshGatewayDefaults);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("unknown key \"listne\""), std::string::npos);
  testing::WriteAll(dir / "port.yaml", "listen: 0.0.0.0\n");
  EXPECT_NE(LoadGatewayConfig(dir / "port.yaml", kSshGatewayDefaults).status().message().find("ADDRESS:PORT"),
            std::string::npos);
  EXPECT_FALSE(LoadGatewayConfig(dir / "missing.yaml", kSshGatewayDefaults).ok());
  testing::WriteAll(dir / "grace.yaml", "logon_grace_seconds: 0\n");
  EXPECT_NE(LoadGatewayConfig(dir / "grace.yaml", kSshGatewayDefaults).status().message().find(
                "logon_grace_seconds must be 1..600"),
            std::string::npos);
  // The RDP gateway's own defaults where its file says nothing.
  testing::WriteAll(dir / "empty.yaml", "state_dir: /tmp/r\n");
  auto rdp = LoadGatewayConfig(dir / "empty.yaml", kRdpGatewayDefaults);
  ASSERT_TRUE(rdp.ok()) << rdp.status().message();
  EXPECT_EQ(rdp->listen_port, 3389);
  EXPECT_EQ(rdp->max_connections, 100);
  EXPECT_EQ(rdp->logon_grace_seconds, 60);
}

}  // namespace
}  // namespace warden
