#include "common/krl.h"

#include <gtest/gtest.h>

#include "controller/keys/software_keystore.h"
#include "tests/test_util.h"

namespace warden {
namespace {

using testing::ReadAll;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteAll;

struct Fixture {
  TempDir dir;
  SoftwareKeyStore store;
  // Writes a certificate signed by `ca` with `serial` and `key_id` to NAME-cert.pub.
  Certificate Issue(const std::string& ca, const std::string& name, uint64_t serial,
                    const std::string& key_id) {
    EXPECT_EQ(RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir / name).exit_code, 0);
    Certificate c;
    c.key = *ParseAuthorizedKey(ReadAll(dir / (name + ".pub")), nullptr);
    c.nonce = RandomBytes(16);
    c.serial = serial;
    c.key_id = key_id;
    c.principals = {"adm"};
    c.valid_after = 0;
    c.valid_before = ~0ULL;
    c.signature_key = store.GetPublicKey(ca)->blob;
    c.signature = *SignSsh(store, ca, EncodeCertificateToBeSigned(c));
    WriteAll(dir / (name + "-cert.pub"), FormatCertificateLine(c, "") + "\n");
    return c;
  }
};

TEST(Krl, SshKeygenAgreesWhichCertificatesAreRevoked) {
  Fixture f;
  ASSERT_TRUE(f.store.Generate("ca0", KeyAlgorithm::kEd25519).ok());
  ASSERT_TRUE(f.store.Generate("ca1", KeyAlgorithm::kEcdsaP256).ok());
  Certificate by_serial = f.Issue("ca0", "a", 1000, "alice:g1:1000");
  Certificate by_key_id = f.Issue("ca0", "b", 2000, "bob:g2:2000");
  Certificate kept = f.Issue("ca0", "c", 3000, "carol:g3:3000");
  Certificate other_ca_same_serial = f.Issue("ca1", "d", 1000, "dave:g4:1000");

  Krl krl;
  krl.version = 7;
  KrlCertSection sec;
  sec.ca_key = by_serial.signature_key;
  sec.serials = {1000, 5, 999999};
  sec.key_ids = {"bob:g2:2000"};
  krl.cert_sections.push_back(sec);
  WriteAll(f.dir / "r.krl", std::string(AsChars(EncodeKrl(krl))));

  auto q = [&](const std::string& name) {
    return RunCommand("ssh-keygen -Q -f " + f.dir / "r.krl" + " " + f.dir / (name + "-cert.pub"));
  };
  EXPECT_NE(q("a").output.find("REVOKED"), std::string::npos) << q("a").output;
  EXPECT_NE(q("b").output.find("REVOKED"), std::string::npos);
  EXPECT_EQ(q("c").output.find("REVOKED"), std::string::npos) << q("c").output;
  EXPECT_EQ(q("c").exit_code, 0);
  EXPECT_EQ(q("d").output.find("REVOKED"), std::string::npos);

  // Our own parser agrees.
  auto parsed = ParseKrl(EncodeKrl(krl));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->version, 7u);
  EXPECT_TRUE(KrlRevokesCertificate(*parsed, by_serial));
  EXPECT_TRUE(KrlRevokesCertificate(*parsed, by_key_id));
  EXPECT_FALSE(KrlRevokesCertificate(*parsed, kept));
  EXPECT_FALSE(KrlRevokesCertificate(*parsed, other_ca_same_serial));
}

TEST(Krl, ParsesKrlsMadeBySshKeygen) {
  Fixture f;
  ASSERT_EQ(RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + f.dir / "ca").exit_code, 0);
  WriteAll(f.dir / "spec", "serial: 1-5\nserial: 100\nid: some-key-id\n");
  auto r = RunCommand("ssh-keygen -k -f " + f.dir / "k.krl" + " -s " + f.dir / "ca.pub" + " -z 3 " +
               f.dir / "spec");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string blob = ReadAll(f.dir / "k.krl");
  auto krl = ParseKrl(AsBytes(blob));
  ASSERT_TRUE(krl.ok()) << krl.status().message();
  EXPECT_EQ(krl->version, 3u);
  ASSERT_EQ(krl->cert_sections.size(), 1u);
  Certificate probe;
  probe.signature_key = krl->cert_sections[0].ca_key;
  for (uint64_t s : {1, 3, 5, 100}) {
    probe.serial = s;
    EXPECT_TRUE(KrlRevokesCertificate(*krl, probe)) << s;
  }
  probe.serial = 6;
  EXPECT_FALSE(KrlRevokesCertificate(*krl, probe));
  probe.key_id = "some-key-id";
  EXPECT_TRUE(KrlRevokesCertificate(*krl, probe));
}

TEST(Krl, RejectsSignedKrlsAndGarbage) {
  Krl krl;
  Bytes blob = EncodeKrl(krl);
  blob.push_back(4);  // KRL_SECTION_SIGNATURE
  blob.insert(blob.end(), {0, 0, 0, 0});
  auto st = ParseKrl(blob);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(std::string(st.status().message()).find("signed KRLs"), std::string::npos);
  EXPECT_FALSE(ParseKrl(AsBytes("SSHKRL\n")).ok());
  EXPECT_FALSE(ParseKrl(AsBytes("not a krl at all, really")).ok());
}

}  // namespace
}  // namespace warden
