#include "controller/ldap/ldap_target.h"

#include <ldap.h>
#include <openssl/crypto.h>

#include <memory>

#include "common/strings.h"

namespace warden {
namespace {

using Ldap = std::unique_ptr<LDAP, void (*)(LDAP*)>;

// Debian's bundle of the system's CAs (ca-certificates): trusted when a target names no ca_file.
constexpr std::string_view kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

void Unbind(LDAP* ld) { ldap_unbind_ext_s(ld, nullptr, nullptr); }

std::string Where(const RotationTargetPolicy& t) { return StrCat(t.user, " at ", t.url); }

// libldap's message for `rc`, with the connection's diagnostic (a TLS failure's reason).
std::string ErrorText(LDAP* ld, int rc) {
  char* diag = nullptr;
  ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
  std::string out = ldap_err2string(rc);
  if (diag && *diag && std::string_view(diag).find("unknown error") == std::string_view::npos)
    out += StrCat(" (", diag, ")");
  if (diag) ldap_memfree(diag);
  return out;
}

// A connection to `t`'s server, TLS checked, bound as the account with `password`.
absl::StatusOr<Ldap> Bind(const RotationTargetPolicy& t, const SecretBytes& password) {
  LDAP* raw = nullptr;
  if (ldap_initialize(&raw, t.url.c_str()) != LDAP_SUCCESS || !raw)
    return absl::InvalidArgumentError(StrCat("not an LDAP URL: ", t.url));
  Ldap ld(raw, Unbind);
  const int version = LDAP_VERSION3;
  const int demand = LDAP_OPT_X_TLS_DEMAND;
  const int zero = 0;
  timeval timeout{10, 0};
  // The handle's own TLS context, from these settings only: if any of them cannot be set, no
  // password is sent (libldap would otherwise fall back to its global context, which ldap.conf,
  // ~/.ldaprc or LDAPTLS_* variables may have told to verify nothing).
  const std::string ca = t.ca_file.empty() ? std::string(kSystemCaBundle) : t.ca_file;
  void* ctx = nullptr;
  if (ldap_set_option(ld.get(), LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld.get(), LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld.get(), LDAP_OPT_NETWORK_TIMEOUT, &timeout) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld.get(), LDAP_OPT_TIMEOUT, &timeout) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld.get(), LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld.get(), LDAP_OPT_X_TLS_CACERTFILE, ca.c_str()) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld.get(), LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS ||
      ldap_get_option(ld.get(), LDAP_OPT_X_TLS_CTX, &ctx) != LDAP_OPT_SUCCESS || !ctx)
    return absl::FailedPreconditionError(StrCat("setting up TLS for ", t.url, " with the CAs of ",
                                                ca, " failed (is the file there and PEM?): no "
                                                "password was sent"));
  if (t.start_tls) {
    const int rc = ldap_start_tls_s(ld.get(), nullptr, nullptr);
    if (rc != LDAP_SUCCESS)
      return absl::UnavailableError(StrCat("StartTLS with ", t.url, ": ", ErrorText(ld.get(), rc),
                                           ": no password was sent"));
  }
  std::string pw(password.view());
  berval cred{static_cast<ber_len_t>(pw.size()), pw.data()};
  const int rc = ldap_sasl_bind_s(ld.get(), t.user.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr,
                                  nullptr, nullptr);
  OPENSSL_cleanse(pw.data(), pw.size());
  if (rc == LDAP_SUCCESS) return ld;
  if (rc == LDAP_INVALID_CREDENTIALS)
    return absl::PermissionDeniedError(StrCat(Where(t), " refused the password"));
  return absl::UnavailableError(StrCat("binding as ", Where(t), ": ", ErrorText(ld.get(), rc)));
}

}  // namespace

absl::Status LdapAccountTarget::Verify(const RotationTargetPolicy& t, const SecretBytes& value) {
  return Bind(t, value).status();
}

absl::Status LdapAccountTarget::Change(const RotationTargetPolicy& t, const SecretBytes* current,
                                       const SecretBytes& next) {
  if (!current)
    return absl::FailedPreconditionError(StrCat(Where(t), " changes its password with the current one"));
  ASSIGN_OR_RETURN(Ldap ld, Bind(t, *current));
  std::string user = t.user, old_pw(current->view()), new_pw(next.view());
  berval id{static_cast<ber_len_t>(user.size()), user.data()};
  berval old_val{static_cast<ber_len_t>(old_pw.size()), old_pw.data()};
  berval new_val{static_cast<ber_len_t>(new_pw.size()), new_pw.data()};
  berval generated{0, nullptr};
  const int rc = ldap_passwd_s(ld.get(), &id, &old_val, &new_val, &generated, nullptr, nullptr);
  OPENSSL_cleanse(old_pw.data(), old_pw.size());
  OPENSSL_cleanse(new_pw.data(), new_pw.size());
  if (generated.bv_val) ber_memfree(generated.bv_val);
  if (rc != LDAP_SUCCESS) {
    const std::string why =
        StrCat("changing the password of ", Where(t), ": ", ErrorText(ld.get(), rc));
    return rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_CONSTRAINT_VIOLATION ||
                   rc == LDAP_UNWILLING_TO_PERFORM
               ? absl::FailedPreconditionError(why)
               : absl::UnavailableError(why);
  }
  return absl::OkStatus();
}

}  // namespace warden
