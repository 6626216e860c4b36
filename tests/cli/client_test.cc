#include "cli/client.h"

#include <gtest/gtest.h>

#include "controller/keys/software_keystore.h"
#include "controller/keys/x509_issuer.h"
#include "tests/test_util.h"

namespace warden::cli {
namespace {

// Writes a profile whose login certificate is valid from `not_before` to `not_after`.
Profile WriteProfile(const testing::TempDir& dir, int64_t not_before, int64_t not_after) {
  SoftwareKeyStore keys;
  (void)keys.Generate("ca", KeyAlgorithm::kEd25519);
  auto ca_pub = KeyStorePublicEvp(keys, "ca");
  X509Profile cap;
  cap.common_name = "ca";
  cap.is_ca = true;
  cap.not_before_unix = not_before;
  cap.not_after_unix = time(nullptr) + 3600;
  auto ca = IssueX509(keys, "ca", nullptr, ca_pub->get(), cap);
  auto key = GenerateP256Key();
  X509Profile p;
  p.common_name = "alice";
  p.organizational_unit = "operator";
  p.client_auth = true;
  p.not_before_unix = not_before;
  p.not_after_unix = not_after;
  auto cert = IssueX509(keys, "ca", ca->get(), key->get(), p);
  Profile prof{dir.path(), "127.0.0.1:1", "alice"};
  EXPECT_TRUE(SaveProfile(prof).ok());
  testing::WriteAll(prof.ca_path(), *CertificateToPem(ca->get()));
  testing::WriteAll(prof.key_path(), *PrivateKeyToPem(key->get()));
  testing::WriteAll(prof.cert_path(), *CertificateToPem(cert->get()));
  return prof;
}

TEST(Client, ExpiredLoginIsReportedBeforeAnyConnection) {
  testing::TempDir dir;
  const int64_t now = time(nullptr);
  Profile p = WriteProfile(dir, now - 9 * 3600, now - 3600);
  auto loaded = LoadProfile(dir.path());
  ASSERT_TRUE(loaded.ok());
  auto ch = Connect(*loaded, true);
  ASSERT_EQ(ch.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(ch.status().message()).find("has expired; run wardenctl login again"),
            std::string::npos);
}

TEST(Client, CurrentLoginConnects) {
  testing::TempDir dir;
  const int64_t now = time(nullptr);
  WriteProfile(dir, now - 60, now + 3600);
  auto ch = Connect(*LoadProfile(dir.path()), true);
  EXPECT_TRUE(ch.ok()) << ch.status().message();
}

TEST(Client, MissingOrCorruptProfileSaysWhatToDo) {
  testing::TempDir dir;
  auto missing = LoadProfile(dir / "none");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("wardenctl login"), std::string::npos);
  testing::WriteAll(dir / "profile.json", "{not json");
  auto corrupt = LoadProfile(dir.path());
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(std::string(corrupt.status().message()).find("corrupt"), std::string::npos);
}

}  // namespace
}  // namespace warden::cli
