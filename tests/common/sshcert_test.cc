#include "common/sshcert.h"

#include <gtest/gtest.h>

#include "common/sshbuf.h"
#include "controller/keys/software_keystore.h"
#include "tests/test_util.h"

namespace warden {
namespace {

using testing::ReadAll;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteAll;

// Signs a certificate for `user_pub` with `ca_label` of `store`.
Certificate MakeCert(KeyStore& store, const std::string& ca_label, const PublicKey& user) {
  Certificate c;
  c.key = user;
  c.nonce = RandomBytes(32);
  c.serial = 0x1234567890abcdefULL;
  c.type = kUserCert;
  c.key_id = "alice:g-test:1311768467294899695";
  c.principals = {"adm-alice-7k2f"};
  c.valid_after = 1700000000;
  c.valid_before = 1700001800;
  c.critical_options = {{"source-address", "127.0.0.0/8"}, {"force-command", "/bin/true"}};
  c.extensions = {{"permit-pty", ""}, {"permit-port-forwarding", ""}};
  c.signature_key = store.GetPublicKey(ca_label)->blob;
  c.signature = *SignSsh(store, ca_label, EncodeCertificateToBeSigned(c));
  return c;
}

class CertTest : public ::testing::TestWithParam<KeyAlgorithm> {};

TEST_P(CertTest, SshKeygenShowsEveryFieldWeWrote) {
  TempDir dir;
  SoftwareKeyStore store;
  ASSERT_TRUE(store.Generate("ca", GetParam()).ok());
  ASSERT_EQ(RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir / "id").exit_code, 0);
  auto user = ParseAuthorizedKey(ReadAll(dir / "id.pub"), nullptr);
  ASSERT_TRUE(user.ok());
  Certificate c = MakeCert(store, "ca", *user);
  WriteAll(dir / "id-cert.pub", FormatCertificateLine(c, "test") + "\n");
  auto r = RunCommand("ssh-keygen -L -f " + dir / "id-cert.pub");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("user certificate"), std::string::npos);
  EXPECT_NE(r.output.find("Key ID: \"alice:g-test:1311768467294899695\""), std::string::npos);
  EXPECT_NE(r.output.find("Serial: 1311768467294899695"), std::string::npos);
  EXPECT_NE(r.output.find("adm-alice-7k2f"), std::string::npos);
  EXPECT_NE(r.output.find("source-address 127.0.0.0/8"), std::string::npos);
  EXPECT_NE(r.output.find("force-command /bin/true"), std::string::npos);
  EXPECT_NE(r.output.find("permit-port-forwarding"), std::string::npos);
  EXPECT_NE(r.output.find("Signing CA: " + std::string(GetParam() == KeyAlgorithm::kEd25519
                                                           ? "ED25519" : "ECDSA")),
            std::string::npos);

  // Our parser reads it back and the signature verifies.
  Bytes blob = EncodeCertificate(c);
  auto parsed = ParseCertificate(blob);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->key_id, c.key_id);
  EXPECT_EQ(parsed->principals, c.principals);
  EXPECT_EQ(parsed->critical_options, c.critical_options);
  EXPECT_EQ(parsed->extensions, c.extensions);
  EXPECT_TRUE(VerifyCertificate(*parsed, blob).ok());
  // A flipped bit in the signed part breaks the signature.
  blob[blob.size() / 2] ^= 1;
  auto tampered = ParseCertificate(blob);
  if (tampered.ok()) {
    EXPECT_FALSE(VerifyCertificate(*tampered, blob).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, CertTest,
                         ::testing::Values(KeyAlgorithm::kEd25519, KeyAlgorithm::kEcdsaP256));

TEST(Certificate, ParsesCertificatesSignedBySshKeygen) {
  TempDir dir;
  for (const std::string t : {"ed25519", "ecdsa", "rsa"}) {
    ASSERT_EQ(RunCommand("ssh-keygen -q -t " + t + " -N '' -f " + dir / ("ca" + t)).exit_code, 0);
  }
  ASSERT_EQ(RunCommand("ssh-keygen -q -t ecdsa -N '' -f " + dir / "user").exit_code, 0);
  for (const std::string t : {"ed25519", "ecdsa", "rsa"}) {
    auto r = RunCommand("ssh-keygen -q -s " + dir / ("ca" + t) +
                 " -I kid -n p1,p2 -z 42 -O no-pty -O source-address=10.0.0.0/8 -V +1h " +
                 dir / "user.pub");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto c = ParseCertificateLine(ReadAll(dir / "user-cert.pub"));
    ASSERT_TRUE(c.ok()) << t << ": " << c.status().message();
    EXPECT_EQ(c->serial, 42u);
    EXPECT_EQ(c->principals, (std::vector<std::string>{"p1", "p2"}));
    EXPECT_EQ(c->critical_options.at("source-address"), "10.0.0.0/8");
    EXPECT_FALSE(c->extensions.count("permit-pty"));
    EXPECT_TRUE(c->extensions.count("permit-port-forwarding"));
    Bytes blob = *Base64Decode(ReadAll(dir / "user-cert.pub").substr(
        ReadAll(dir / "user-cert.pub").find(' ') + 1,
        ReadAll(dir / "user-cert.pub").find(' ', ReadAll(dir / "user-cert.pub").find(' ') + 1) -
            ReadAll(dir / "user-cert.pub").find(' ') - 1));
    EXPECT_TRUE(VerifyCertificate(*c, blob).ok()) << t;
  }
}

TEST(Certificate, RejectsUnsortedExtensionsAndTrailingBytes) {
  SoftwareKeyStore store;
  ASSERT_TRUE(store.Generate("ca", KeyAlgorithm::kEd25519).ok());
  ASSERT_TRUE(store.Generate("user", KeyAlgorithm::kEd25519).ok());
  Certificate c = MakeCert(store, "ca", *store.GetPublicKey("user"));
  Bytes blob = EncodeCertificate(c);
  blob.push_back(0);
  EXPECT_FALSE(ParseCertificate(blob).ok());
  blob.pop_back();
  // Swap the two extension entries so they are out of order; the section keeps its length.
  auto entry = [](const std::string& name) {
    SshWriter w;
    w.String(name);
    w.String(std::string_view());
    return std::string(AsChars(w.bytes()));
  };
  const std::string a = entry("permit-port-forwarding"), b = entry("permit-pty");
  std::string s(blob.begin(), blob.end());
  const size_t at = s.find(a + b);
  ASSERT_NE(at, std::string::npos);
  s.replace(at, a.size() + b.size(), b + a);
  auto st = ParseCertificate(AsBytes(s));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(std::string(st.status().message()).find("out of order"), std::string::npos);
}

TEST(Certificate, TruncationAtEveryLengthIsAnErrorNotACrash) {
  SoftwareKeyStore store;
  ASSERT_TRUE(store.Generate("ca", KeyAlgorithm::kEd25519).ok());
  ASSERT_TRUE(store.Generate("user", KeyAlgorithm::kEcdsaP256).ok());
  Bytes blob = EncodeCertificate(MakeCert(store, "ca", *store.GetPublicKey("user")));
  for (size_t n = 0; n < blob.size(); n++) {
    EXPECT_FALSE(ParseCertificate(ByteSpan(blob).subspan(0, n)).ok()) << n;
  }
}

}  // namespace
}  // namespace warden
