#include "common/sshkey.h"

#include <gtest/gtest.h>

#include "common/sshbuf.h"
#include "tests/test_util.h"

namespace warden {
namespace {

using testing::RunCommand;
using testing::TempDir;

std::string KeygenPub(const TempDir& dir, const std::string& args) {
  const std::string path = dir / "k";
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".pub");
  auto r = RunCommand("ssh-keygen -q -N '' " + args + " -f " + path);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return testing::ReadAll(path + ".pub");
}

TEST(PublicKey, ParsesKeysMadeBySshKeygenAndAgreesOnFingerprint) {
  TempDir dir;
  for (const std::string args : {"-t ed25519", "-t ecdsa -b 256", "-t ecdsa -b 384",
                                 "-t ecdsa -b 521", "-t rsa -b 2048"}) {
    const std::string line = KeygenPub(dir, args);
    std::string comment;
    auto parsed = ParseAuthorizedKey(line, &comment);
    ASSERT_TRUE(parsed.ok()) << args << ": " << parsed.status().message();
    EXPECT_EQ(comment.rfind("root@", 0), 0u) << comment;
    EXPECT_EQ(FormatAuthorizedKey(*parsed, comment) + "\n", line);
    auto fp = RunCommand("ssh-keygen -l -E sha256 -f " + dir / "k.pub").output;
    EXPECT_NE(fp.find(Fingerprint(parsed->blob)), std::string::npos) << args;
    EXPECT_TRUE(CheckUserKeyAcceptable(*parsed).ok()) << args;
    EXPECT_TRUE(ToEvpPkey(*parsed).ok());
  }
}

TEST(PublicKey, RefusesSmallRsaWithAReason) {
  TempDir dir;
  auto key = ParseAuthorizedKey(KeygenPub(dir, "-t rsa -b 1024"), nullptr);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->bits, 1024);
  auto st = CheckUserKeyAcceptable(*key);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("at least 2048"), std::string::npos);
}

TEST(PublicKey, RefusesDsaWithAReason) {
  // OpenSSH 9 no longer generates DSA keys; build a well-formed ssh-dss blob by hand.
  SshWriter w;
  w.String("ssh-dss");
  for (int i = 0; i < 4; i++) w.Mpint(Bytes(128, 0x5a));
  auto key = ParsePublicKey(w.bytes());
  ASSERT_TRUE(key.ok()) << key.status().message();
  auto st = CheckUserKeyAcceptable(*key);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("ssh-dss"), std::string::npos);
}

TEST(PublicKey, RefusesOversizedKeys) {
  SshWriter w;
  w.String("ssh-rsa");
  w.Mpint(Bytes{0x01, 0x00, 0x01});
  w.Mpint(Bytes(17000, 0x7f));
  auto key = ParsePublicKey(w.bytes());
  ASSERT_FALSE(key.ok());
  EXPECT_NE(std::string(key.status().message()).find("refused"), std::string::npos);
}

TEST(PublicKey, RejectsMalformedInputWithClearErrors) {
  EXPECT_FALSE(ParseAuthorizedKey("", nullptr).ok());
  EXPECT_FALSE(ParseAuthorizedKey("ssh-ed25519", nullptr).ok());
  EXPECT_FALSE(ParseAuthorizedKey("ssh-ed25519 !!!notbase64", nullptr).ok());
  // Type in the text disagrees with the blob.
  TempDir dir;
  std::string line = KeygenPub(dir, "-t ed25519");
  line.replace(0, 11, "ssh-rsa    ");
  EXPECT_FALSE(ParseAuthorizedKey(line, nullptr).ok());
  // Ed25519 key of the wrong length.
  SshWriter w;
  w.String("ssh-ed25519");
  w.String(Bytes(31, 1));
  auto st = ParsePublicKey(w.bytes());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(std::string(st.status().message()).find("not 32"), std::string::npos);
}

TEST(PublicKey, RejectsEcdsaPointNotOnCurve) {
  SshWriter w;
  w.String("ecdsa-sha2-nistp256");
  w.String("nistp256");
  Bytes q(65, 0x11);
  q[0] = 0x04;
  w.String(q);
  EXPECT_FALSE(ParsePublicKey(w.bytes()).ok());
}

}  // namespace
}  // namespace warden
