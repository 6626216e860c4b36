// Operator accounts and login: password (scrypt) + TOTP, exchanged for a short-lived X.509
// client certificate issued by the cluster CA. Every other API call authenticates with that
// certificate over mutual TLS.
#pragma once

#include <string>

#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/keys/keystore.h"
#include "controller/store/user_store.h"

namespace warden {

struct NewUserSecrets {
  std::string password;
  std::string totp_secret;  // base32
  std::string otpauth_uri;
};

struct LoginResult {
  std::string certificate_pem;
  int64_t expires = 0;
};

// The largest Login fields accepted (user names are at most 32 characters; the rest is slack).
inline constexpr size_t kMaxUserNameBytes = 32;
inline constexpr size_t kMaxPasswordBytes = 1024;
inline constexpr size_t kMaxOtpBytes = 16;
inline constexpr size_t kMaxCsrPemBytes = 16384;

// Login's answer to wrong credentials, whichever of them was wrong (a replayed code included).
inline constexpr std::string_view kLoginDenied =
    "wrong user name, password or one-time code (each code works once: after a login, wait for "
    "the next code)";

// The organizational unit that marks operator client certificates.
inline constexpr std::string_view kOperatorOu = "operator";

class OperatorAuth {
 public:
  OperatorAuth(std::shared_ptr<const Policy> policy, UserStore& store, KeyStore& keys,
               const Clock& clock, std::string cluster_ca_label, X509Ptr cluster_ca_cert)
      : policy_(std::move(policy)), store_(store), keys_(keys), clock_(clock),
        ca_label_(std::move(cluster_ca_label)), ca_cert_(std::move(cluster_ca_cert)) {}

  // Creates an operator with a random password and TOTP secret, returned once.
  absl::StatusOr<NewUserSecrets> CreateUser(std::string_view name);
  absl::StatusOr<LoginResult> Login(std::string_view user, std::string_view password,
                                    std::string_view otp, std::string_view csr_pem);
  // Identity of a verified client certificate (the TLS layer has checked the chain).
  absl::StatusOr<Identity> IdentityFromCertificate(std::string_view pem) const;

 private:
  std::shared_ptr<const Policy> policy_;
  UserStore& store_;
  KeyStore& keys_;
  const Clock& clock_;
  std::string ca_label_;
  X509Ptr ca_cert_;
};

// scrypt password hashing: "scrypt$N$r$p$salt$hash" (base64).
absl::StatusOr<std::string> HashPassword(std::string_view password);
bool CheckPassword(std::string_view password, std::string_view encoded);

}  // namespace warden
