#include "controller/ldap/ldap_target.h"

#include <ldap.h>
#include <openssl/crypto.h>

#include <map>
#include <memory>
#include <optional>
#include <vector>

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
  if (rc == LDAP_INVALID_CREDENTIALS) {
    // Active Directory answers 49 for more than a wrong password; its diagnostic's "data" code
    // says which (MS-ADTS / Samba: 52e is the password). Only that is a refusal of the password.
    const std::string why = ErrorText(ld.get(), rc);
    const size_t at = why.find(", data ");
    const std::string code = at == std::string::npos ? "" : why.substr(at + 7, 3);
    if (t.kind != "ad" || code.empty() || code == "52e")
      return absl::PermissionDeniedError(StrCat(Where(t), " refused the password"));
    static const std::map<std::string, std::string> kWhy = {
        {"525", "no such account"},        {"530", "not allowed at this time"},
        {"531", "not allowed from here"},  {"532", "its password has expired"},
        {"533", "the account is disabled"}, {"701", "the account has expired"},
        {"773", "it must change its password first"}, {"775", "the account is locked out"}};
    auto it = kWhy.find(code);
    return absl::FailedPreconditionError(
        StrCat(Where(t), " cannot log in now, for another reason than the password: ",
               it == kWhy.end() ? StrCat("AD code ", code) : it->second));
  }
  return absl::UnavailableError(StrCat("binding as ", Where(t), ": ", ErrorText(ld.get(), rc)));
}

}  // namespace

absl::StatusOr<SecretBytes> UnicodePwd(const SecretBytes& password) {
  std::vector<uint32_t> points;
  points.reserve(password.size() + 2);  // no reallocation leaves a copy behind
  points.push_back('"');
  const uint8_t* p = password.data();
  const uint8_t* end = p + password.size();
  while (p < end) {
    uint32_t cp = *p;
    int extra = cp < 0x80 ? 0 : (cp & 0xE0) == 0xC0 ? 1 : (cp & 0xF0) == 0xE0 ? 2 : (cp & 0xF8) == 0xF0 ? 3 : -1;
    if (extra < 0) return absl::InvalidArgumentError("the password is not UTF-8");
    if (extra > 0) {
      if (end - p < extra + 1) return absl::InvalidArgumentError("the password is not UTF-8");
      cp &= 0x3Fu >> extra;
      for (int i = 1; i <= extra; i++) {
        if ((p[i] & 0xC0) != 0x80) return absl::InvalidArgumentError("the password is not UTF-8");
        cp = (cp << 6) | (p[i] & 0x3F);
      }
      static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
      if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return absl::InvalidArgumentError("the password is not UTF-8");
    }
    points.push_back(cp);
    p += extra + 1;
  }
  points.push_back('"');
  size_t units = 0;
  for (uint32_t cp : points) units += cp >= 0x10000 ? 2 : 1;
  SecretBytes out(units * 2);
  size_t i = 0;
  auto put = [&](uint32_t unit) {
    out.data()[i++] = static_cast<uint8_t>(unit & 0xFF);
    out.data()[i++] = static_cast<uint8_t>(unit >> 8);
  };
  for (uint32_t cp : points) {
    if (cp >= 0x10000) {
      put(0xD800 + ((cp - 0x10000) >> 10));
      put(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      put(cp);
    }
  }
  OPENSSL_cleanse(points.data(), points.size() * sizeof(uint32_t));
  return out;
}

absl::Status AdAccountTarget::Verify(const RotationTargetPolicy& t, const SecretBytes& value) {
  return Bind(t, value).status();
}

absl::Status AdAccountTarget::Change(const RotationTargetPolicy& t, const SecretBytes* current,
                                     const SecretBytes& next) {
  ASSIGN_OR_RETURN(SecretBytes new_value, UnicodePwd(next));
  std::optional<Ldap> ld;
  std::optional<SecretBytes> old_value;
  if (!t.admin_path.empty()) {
    // An administrative reset, bound as the admin account with its vaulted password.
    absl::StatusOr<Vault::Current> admin = vault_.CurrentForController(t.admin_path);
    if (!admin.ok())
      return absl::FailedPreconditionError(StrCat("the password of ", t.admin_path, " (which resets ",
                                                  Where(t), "): ", admin.status().message()));
    RotationTargetPolicy as_admin = t;
    as_admin.user = t.admin_dn;
    absl::StatusOr<Ldap> bound = Bind(as_admin, admin->value);
    if (!bound.ok())
      return absl::Status(absl::IsPermissionDenied(bound.status()) ? absl::StatusCode::kFailedPrecondition
                                                                   : bound.status().code(),
                          StrCat("binding as ", t.admin_path, " to reset ", Where(t), ": ",
                                 bound.status().message()));
    ld.emplace(*std::move(bound));
  } else {
    if (!current)
      return absl::FailedPreconditionError(StrCat(
          Where(t), " changes its own password with the current one (or name an admin: a target "
                    "that may reset it)"));
    ASSIGN_OR_RETURN(SecretBytes old_pwd, UnicodePwd(*current));
    old_value.emplace(std::move(old_pwd));
    ASSIGN_OR_RETURN(Ldap bound, Bind(t, *current));
    ld.emplace(std::move(bound));
  }
  berval new_bv{static_cast<ber_len_t>(new_value.size()), reinterpret_cast<char*>(new_value.data())};
  berval* new_vals[] = {&new_bv, nullptr};
  char attr[] = "unicodePwd";
  LDAPMod add{LDAP_MOD_BVALUES | (old_value ? LDAP_MOD_ADD : LDAP_MOD_REPLACE), attr, {}};
  add.mod_bvalues = new_vals;
  berval old_bv{0, nullptr};
  berval* old_vals[] = {&old_bv, nullptr};
  LDAPMod del{LDAP_MOD_BVALUES | LDAP_MOD_DELETE, attr, {}};
  if (old_value) {
    old_bv = {static_cast<ber_len_t>(old_value->size()), reinterpret_cast<char*>(old_value->data())};
    del.mod_bvalues = old_vals;
  }
  LDAPMod* self_change[] = {&del, &add, nullptr};
  LDAPMod* reset[] = {&add, nullptr};
  const int rc = ldap_modify_ext_s(ld->get(), t.user.c_str(), old_value ? self_change : reset,
                                   nullptr, nullptr);
  if (rc != LDAP_SUCCESS) {
    const std::string why = StrCat(old_value ? "changing" : "resetting", " the password of ",
                                   Where(t), ": ", ErrorText(ld->get(), rc));
    // Sent and not answered: the DC may still apply it, so the new value stays pending.
    if (rc == LDAP_TIMEOUT || rc == LDAP_SERVER_DOWN)
      return absl::DeadlineExceededError(StrCat(why, " (it may still be applied)"));
    return rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_CONSTRAINT_VIOLATION ||
                   rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_NO_SUCH_OBJECT
               ? absl::FailedPreconditionError(why)
               : absl::UnavailableError(why);
  }
  return absl::OkStatus();
}

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
    if (rc == LDAP_TIMEOUT || rc == LDAP_SERVER_DOWN)
      return absl::DeadlineExceededError(StrCat(why, " (it may still be applied)"));
    return rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_CONSTRAINT_VIOLATION ||
                   rc == LDAP_UNWILLING_TO_PERFORM
               ? absl::FailedPreconditionError(why)
               : absl::UnavailableError(why);
  }
  return absl::OkStatus();
}

}  // namespace warden
