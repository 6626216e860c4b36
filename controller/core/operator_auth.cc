#include "controller/core/operator_auth.h"

#include <openssl/kdf.h>
#include <openssl/x509v3.h>

#include "common/strings.h"
#include "common/totp.h"
#include "controller/keys/x509_issuer.h"

namespace warden {
namespace {

constexpr uint64_t kScryptN = 1 << 15, kScryptR = 8, kScryptP = 1;

absl::StatusOr<Bytes> Scrypt(std::string_view password, ByteSpan salt, uint64_t n, uint64_t r,
                             uint64_t p) {
  Bytes out(32);
  if (EVP_PBE_scrypt(password.data(), password.size(), salt.data(), salt.size(), n, r, p,
                     256ull << 20, out.data(), out.size()) != 1) {
    return absl::InternalError("scrypt failed: " + OpensslError());
  }
  return out;
}

bool ValidUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserNameBytes) return false;
  for (char c : name) {
    if (!(IsLowerAlpha(c) ||
          IsDigit(c) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> HashPassword(std::string_view password) {
  Bytes salt = RandomBytes(16);
  ASSIGN_OR_RETURN(Bytes h, Scrypt(password, salt, kScryptN, kScryptR, kScryptP));
  return StrCat("scrypt$", kScryptN, "$", kScryptR, "$", kScryptP, "$", Base64Encode(salt),
                      "$", Base64Encode(h));
}

bool CheckPassword(std::string_view password, std::string_view encoded) {
  // scrypt$N$r$p$salt$hash
  std::string_view f[6];
  std::string_view rest = encoded;
  for (int i = 0; i < 6; i++) {
    const size_t pos = rest.find('$');
    if ((i < 5) == (pos == std::string_view::npos)) return false;
    f[i] = rest.substr(0, pos);
    if (pos != std::string_view::npos) rest.remove_prefix(pos + 1);
  }
  uint64_t n, r, p;
  if (f[0] != "scrypt" || !ParseInt(f[1], &n) ||
      !ParseInt(f[2], &r) || !ParseInt(f[3], &p)) {
    return false;
  }
  auto salt = Base64Decode(f[4]);
  auto want = Base64Decode(f[5]);
  if (!salt.ok() || !want.ok()) return false;
  auto got = Scrypt(password, *salt, n, r, p);
  return got.ok() && ConstantTimeEquals(*got, *want);
}

absl::StatusOr<NewUserSecrets> OperatorAuth::CreateUser(std::string_view name) {
  if (!ValidUserName(name)) {
    return absl::InvalidArgumentError(
        "user names are 1-32 characters of lowercase letters, digits, '.', '-' and '_'");
  }
  NewUserSecrets s;
  s.password = Base64Encode(RandomBytes(15));
  for (char& c : s.password) {
    if (c == '+' || c == '/') c = 'x';
  }
  s.totp_secret = Base32Encode(RandomBytes(20));
  s.otpauth_uri = StrCat("otpauth://totp/Warden:", name, "?secret=", s.totp_secret,
                               "&issuer=Warden&algorithm=SHA1&digits=6&period=30");
  ASSIGN_OR_RETURN(std::string hash, HashPassword(s.password));
  RETURN_IF_ERROR(store_.InsertUser({std::string(name), hash, s.totp_secret, 0}));
  return s;
}

absl::StatusOr<LoginResult> OperatorAuth::Login(std::string_view user, std::string_view password,
                                                std::string_view otp, std::string_view csr_pem) {
  // One message for every way the secrets can be wrong (unknown user, wrong password, wrong,
  // malformed or replayed code): the answer never tells which of them was right.
  const auto denied = absl::UnauthenticatedError(std::string(kLoginDenied));
  if (password.size() > kMaxPasswordBytes || csr_pem.size() > kMaxCsrPemBytes) return denied;
  ASSIGN_OR_RETURN(std::optional<UserRow> row, store_.GetUser(user));
  if (!row) {
    // Spend the same time as a real check so user names cannot be probed by timing.
    (void)CheckPassword(password, "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA");
    return denied;
  }
  if (!CheckPassword(password, row->password_hash)) return denied;
  ASSIGN_OR_RETURN(Bytes secret, Base32Decode(row->totp_secret));
  SecretBytes totp_key(secret);
  OPENSSL_cleanse(secret.data(), secret.size());
  absl::StatusOr<uint64_t> step = VerifyTotp(totp_key.span(), otp,
                                             static_cast<uint64_t>(clock_.Now()),
                                             row->totp_last_step);
  if (!step.ok()) return denied;
  // The replay check that counts: the step moves forward in one statement, so of concurrent
  // logins with one code exactly one gets past here.
  ASSIGN_OR_RETURN(bool fresh, store_.UseTotpStep(user, *step));
  if (!fresh) return denied;

  ASSIGN_OR_RETURN(EvpPkeyPtr key, VerifiedCertificateRequestKey(csr_pem));
  const int64_t now = clock_.Now();
  X509Profile p;
  p.common_name = std::string(user);
  p.organizational_unit = std::string(kOperatorOu);
  p.client_auth = true;
  p.not_before_unix = now - 60;
  p.not_after_unix = now + policy_->operator_cert_ttl;
  ASSIGN_OR_RETURN(X509Ptr cert, IssueX509(keys_, ca_label_, ca_cert_.get(), key.get(), p));
  ASSIGN_OR_RETURN(std::string pem, CertificateToPem(cert.get()));
  return LoginResult{std::move(pem), p.not_after_unix};
}

absl::StatusOr<Identity> OperatorAuth::IdentityFromCertificate(std::string_view pem) const {
  ASSIGN_OR_RETURN(CertificateSubject subject, ReadCertificateSubject(pem));
  if (subject.organizational_unit != kOperatorOu) {
    return absl::PermissionDeniedError("this call is for operators; the client certificate is not "
                                       "an operator certificate");
  }
  if (subject.not_after <= static_cast<int64_t>(time(nullptr))) {
    return absl::UnauthenticatedError("your login has expired; run wardenctl login");
  }
  Identity id;
  id.user = subject.common_name;
  id.expires = subject.not_after;
  id.groups = policy_->GroupsOf(id.user);
  return id;
}

}  // namespace warden
