#include "controller/keys/pkcs11_keystore.h"

#include <gtest/gtest.h>

#include "common/crypto.h"
#include "controller/controller.h"
#include "controller/keys/x509_issuer.h"
#include "tests/test_util.h"

namespace warden {
namespace {

// A SoftHSM2 token in a temporary directory.
class SoftHsm : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(dir_ / "tokens");
    testing::WriteAll(dir_ / "softhsm2.conf",
                      "directories.tokendir = " + dir_ / "tokens" + "\nlog.level = ERROR\n");
    setenv("SOFTHSM2_CONF", (dir_ / "softhsm2.conf").c_str(), 1);
    config_.token_label = "test";
    config_.pin = "1234";
    config_.sessions = 4;
    ASSERT_TRUE(Pkcs11KeyStore::InitToken(config_, "so-pin").ok());
    auto ks = Pkcs11KeyStore::Open(config_);
    ASSERT_TRUE(ks.ok()) << ks.status().message();
    keys_ = std::move(*ks);
  }
  testing::TempDir dir_;
  Pkcs11Config config_;
  std::unique_ptr<Pkcs11KeyStore> keys_;
};

TEST_F(SoftHsm, SignaturesFromTheTokenVerifyForBothAlgorithms) {
  ASSERT_TRUE(keys_->Supports(KeyAlgorithm::kEd25519));
  for (KeyAlgorithm alg : {KeyAlgorithm::kEd25519, KeyAlgorithm::kEcdsaP256}) {
    const std::string label = std::string(KeyAlgorithmName(alg));
    auto pub = keys_->Generate(label, alg);
    ASSERT_TRUE(pub.ok()) << pub.status().message();
    const Bytes msg = ToBytes("certificate to be signed");
    auto sig = SignSsh(*keys_, label, msg);
    ASSERT_TRUE(sig.ok()) << sig.status().message();
    EXPECT_TRUE(VerifySshSignature(*pub, *sig, msg).ok()) << label;
    EXPECT_FALSE(VerifySshSignature(*pub, *sig, ToBytes("something else")).ok());
  }
}

TEST_F(SoftHsm, KeysPersistAcrossReopenAndLabelsAreUnique) {
  auto pub = keys_->Generate("ca", KeyAlgorithm::kEd25519);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(keys_->Generate("ca", KeyAlgorithm::kEd25519).status().code(),
            absl::StatusCode::kAlreadyExists);
  keys_.reset();
  auto again = Pkcs11KeyStore::Open(config_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->GetPublicKey("ca")->blob, pub->blob);
  EXPECT_EQ((*again)->GetPublicKey("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SoftHsm, WrongPinIsAClearError) {
  keys_.reset();
  Pkcs11Config bad = config_;
  bad.pin = "0000";
  auto ks = Pkcs11KeyStore::Open(bad);
  ASSERT_FALSE(ks.ok());
  EXPECT_NE(std::string(ks.status().message()).find("PIN"), std::string::npos);
}

TEST_F(SoftHsm, PrivateKeysAreSignOnlyAndNeverExtractable) {
  ASSERT_TRUE(keys_->Generate("ca", KeyAlgorithm::kEd25519).ok());
  auto r = testing::RunCommand(
      "pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label test "
      "--login --pin 1234 --list-objects --type privkey");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("label:      ca"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Usage:      sign\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sensitive, always sensitive, never extractable"), std::string::npos);
}

TEST_F(SoftHsm, TheVaultKeyEncryptionKeyStaysOnTheTokenAndItsGcmBlobsAuthenticate) {
  ASSERT_TRUE(keys_->GenerateEncryptionKey("vault-kek-1").ok());
  EXPECT_EQ(keys_->GenerateEncryptionKey("vault-kek-1").code(), absl::StatusCode::kAlreadyExists);
  const Bytes aad = ToBytes("warden-vault-root-v1");
  auto blob = keys_->Encrypt("vault-kek-1", aad, ToBytes("a 32-byte root key, for example!"));
  ASSERT_TRUE(blob.ok()) << blob.status().message();
  EXPECT_EQ(blob->size(), 12u + 32u + 16u);
  auto back = keys_->Decrypt("vault-kek-1", aad, *blob);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->view(), "a 32-byte root key, for example!");
  Bytes altered = *blob;
  altered[20] ^= 1;
  EXPECT_EQ(keys_->Decrypt("vault-kek-1", aad, altered).status().code(), absl::StatusCode::kDataLoss)
      << keys_->Decrypt("vault-kek-1", aad, altered).status().message();
  EXPECT_EQ(keys_->Decrypt("vault-kek-1", ToBytes("other"), *blob).status().code(),
            absl::StatusCode::kDataLoss);
  // What the token says about the key: an AES key that can be neither read nor wrapped out.
  auto r = testing::RunCommand(
      "pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label test "
      "--login --pin 1234 --list-objects --type secrkey");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("label:      vault-kek-1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Usage:      encrypt, decrypt\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sensitive, always sensitive, never extractable"), std::string::npos)
      << r.output;
  auto value = testing::RunCommand(
      "pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label test "
      "--login --pin 1234 --read-object --type secrkey --label vault-kek-1 2>&1");
  EXPECT_NE(value.exit_code, 0) << "the key's value was readable: " << value.output;
}

// `pkcs11-tool --list-objects --type secrkey` on the test token.
std::string SecretKeyObjects() {
  auto r = testing::RunCommand(
      "pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label test "
      "--login --pin 1234 --list-objects --type secrkey");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

bool ValueReadable(const std::string& label) {
  return testing::RunCommand("pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label "
                             "test --login --pin 1234 --read-object --type secrkey --label " +
                             label + " 2>&1")
             .exit_code == 0;
}

TEST_F(SoftHsm, TheAuditHmacKeyIsGeneratedOnTheTokenAndNeverLeavesIt) {
  ASSERT_TRUE(keys_->GenerateMacKey("audit-hmac-1").ok());
  EXPECT_EQ(keys_->GenerateMacKey("audit-hmac-1").code(), absl::StatusCode::kAlreadyExists);
  auto a = keys_->Mac("audit-hmac-1", ToBytes("hunter2"));
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(*keys_->Mac("audit-hmac-1", ToBytes("hunter2")), *a) << "deterministic";
  EXPECT_NE(*keys_->Mac("audit-hmac-1", ToBytes("hunter3")), *a);
  EXPECT_EQ(keys_->Mac("nope", ToBytes("x")).status().code(), absl::StatusCode::kNotFound);
  const std::string objects = SecretKeyObjects();
  EXPECT_NE(objects.find("label:      audit-hmac-1"), std::string::npos) << objects;
  // Only MACs (pkcs11-tool lists CKA_VERIFY; CKA_SIGN is proven by Mac above).
  for (const char* use : {"encrypt", "decrypt", "wrap", "derive"})
    EXPECT_EQ(objects.find(use), std::string::npos) << use << " in " << objects;
  EXPECT_NE(objects.find("sensitive, always sensitive, never extractable"), std::string::npos)
      << objects;
  EXPECT_FALSE(ValueReadable("audit-hmac-1")) << "the key's value was readable";
}

// A data directory from before: the key in a file moves onto the token, HMACs unchanged, and the
// file is gone; a second start has nothing to do; a file that disagrees with the token is refused.
TEST_F(SoftHsm, AnHmacKeyFileIsMovedOntoTheTokenWithTheSameHmacs) {
  const Bytes key = ToBytes("0123456789abcdef0123456789abcdef");
  const std::string file = dir_ / "audit-hmac.key";
  testing::WriteAll(file, HexEncode(key) + "\n");
  ASSERT_TRUE(MoveAuditHmacKeyToToken(*keys_, file).ok());
  EXPECT_FALSE(std::filesystem::exists(file));
  auto mac = keys_->Mac(kAuditHmacLabel, ToBytes("hunter2"));
  ASSERT_TRUE(mac.ok()) << mac.status().message();
  EXPECT_EQ(*mac, HmacSha256(key, ToBytes("hunter2"))) << "HMACs already in the log still match";
  EXPECT_FALSE(ValueReadable(std::string(kAuditHmacLabel)));
  EXPECT_EQ(SecretKeyObjects().find("crypt"), std::string::npos) << "a MAC key, nothing else";
  EXPECT_TRUE(MoveAuditHmacKeyToToken(*keys_, file).ok()) << "already moved";

  testing::WriteAll(file, HexEncode(ToBytes("another key, another key, another")) + "\n");
  absl::Status st = MoveAuditHmacKeyToToken(*keys_, file);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st.message();
  EXPECT_TRUE(std::filesystem::exists(file)) << "a disagreeing file is left for a person to judge";
}

TEST_F(SoftHsm, ADataDirectoryWithoutAnyHmacKeyIsAClearError) {
  absl::Status st = MoveAuditHmacKeyToToken(*keys_, dir_ / "missing.key");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("neither on the token"), std::string::npos) << st.message();
}

TEST_F(SoftHsm, X509CertificatesSignedOnTheTokenVerify) {
  ASSERT_TRUE(keys_->Generate("cluster", KeyAlgorithm::kEd25519).ok());
  auto ca_pub = KeyStorePublicEvp(*keys_, "cluster");
  X509Profile p;
  p.common_name = "ca";
  p.is_ca = true;
  p.not_before_unix = time(nullptr) - 60;
  p.not_after_unix = time(nullptr) + 3600;
  auto ca = IssueX509(*keys_, "cluster", nullptr, ca_pub->get(), p);
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  auto leaf_key = GenerateP256Key();
  X509Profile lp;
  lp.common_name = "alice";
  lp.organizational_unit = "operator";
  lp.client_auth = true;
  lp.not_before_unix = p.not_before_unix;
  lp.not_after_unix = p.not_after_unix;
  auto leaf = IssueX509(*keys_, "cluster", ca->get(), leaf_key->get(), lp);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  testing::WriteAll(dir_ / "ca.pem", *CertificateToPem(ca->get()));
  testing::WriteAll(dir_ / "leaf.pem", *CertificateToPem(leaf->get()));
  auto r = testing::RunCommand("openssl verify -CAfile " + dir_ / "ca.pem" + " " + dir_ / "leaf.pem");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace warden
