#include "common/sshcert.h"

#include "common/strings.h"
#include "common/sshbuf.h"

namespace warden {
namespace {

// A flag (empty value) is encoded as an empty data string; a value is wrapped in a string of its
// own, for both critical options and extensions.
Bytes EncodeOptions(const std::map<std::string, std::string>& opts) {
  SshWriter w;
  for (const auto& [name, value] : opts) {
    w.String(name);
    if (value.empty()) {
      w.String(std::string_view());
    } else {
      SshWriter inner;
      inner.String(value);
      w.String(inner.bytes());
    }
  }
  return w.Take();
}

absl::StatusOr<std::map<std::string, std::string>> ParseOptions(ByteSpan data,
                                                                std::string_view what) {
  std::map<std::string, std::string> out;
  SshReader r(data);
  std::string last;
  while (!r.empty()) {
    ASSIGN_OR_RETURN(std::string name, r.Text(StrCat(what, " name")));
    ASSIGN_OR_RETURN(ByteSpan value, r.String(StrCat(what, " value")));
    if (!out.empty() && name <= last) {
      return absl::InvalidArgumentError(StrCat(what, " \"", name,
                                                     "\" is out of order or repeated"));
    }
    std::string v;
    if (!value.empty()) {
      SshReader vr(value);
      ASSIGN_OR_RETURN(v, vr.Text(StrCat(what, " \"", name, "\" data")));
      RETURN_IF_ERROR(vr.ExpectEnd(StrCat(what, " \"", name, "\" data")));
    }
    last = name;
    out.emplace(std::move(name), std::move(v));
  }
  return out;
}

}  // namespace

Bytes EncodeCertificateToBeSigned(const Certificate& c) {
  SshWriter w;
  w.String(CertTypeName(c.key.type));
  w.String(c.nonce);
  w.Raw(c.key.fields());
  w.U64(c.serial);
  w.U32(c.type);
  w.String(c.key_id);
  SshWriter principals;
  for (const auto& p : c.principals) principals.String(p);
  w.String(principals.bytes());
  w.U64(c.valid_after);
  w.U64(c.valid_before);
  w.String(EncodeOptions(c.critical_options));
  w.String(EncodeOptions(c.extensions));
  w.String(std::string_view());  // reserved
  w.String(c.signature_key);
  return w.Take();
}

Bytes EncodeCertificate(const Certificate& c) {
  SshWriter w;
  w.Raw(EncodeCertificateToBeSigned(c));
  w.String(c.signature);
  return w.Take();
}

std::string FormatCertificateLine(const Certificate& c, std::string_view comment) {
  std::string out = StrCat(CertTypeName(c.key.type), " ", Base64Encode(EncodeCertificate(c)));
  if (!comment.empty()) StrAppend(&out, " ", comment);
  return out;
}

absl::StatusOr<Certificate> ParseCertificate(ByteSpan blob) {
  if (blob.size() > kMaxCertBytes) {
    return absl::InvalidArgumentError(StrCat("certificate is ", blob.size(),
                                                   " bytes; the limit is ", kMaxCertBytes));
  }
  SshReader r(blob);
  Certificate c;
  ASSIGN_OR_RETURN(ByteSpan type_name, r.String("certificate type"));
  ASSIGN_OR_RETURN(c.key.type, KeyTypeFromCertName(AsChars(type_name)));
  ASSIGN_OR_RETURN(ByteSpan nonce, r.String("nonce"));
  c.nonce.assign(nonce.begin(), nonce.end());
  // Rebuild the plain key blob from the embedded fields so that `key` is a normal PublicKey.
  const size_t fields_start = blob.size() - r.remaining();
  ASSIGN_OR_RETURN(c.key.bits, ParseKeyFields(c.key.type, r));
  const size_t fields_end = blob.size() - r.remaining();
  SshWriter kb;
  kb.String(KeyTypeName(c.key.type));
  c.key.fields_offset = kb.bytes().size();
  kb.Raw(blob.subspan(fields_start, fields_end - fields_start));
  c.key.blob = kb.Take();

  ASSIGN_OR_RETURN(c.serial, r.U64("serial"));
  ASSIGN_OR_RETURN(c.type, r.U32("certificate role"));
  if (c.type != kUserCert && c.type != kHostCert) {
    return absl::InvalidArgumentError(StrCat("certificate role ", c.type,
                                                   " is neither user (1) nor host (2)"));
  }
  ASSIGN_OR_RETURN(c.key_id, r.Text("key id"));
  ASSIGN_OR_RETURN(SshReader pr, r.Child("principals"));
  while (!pr.empty()) {
    if (c.principals.size() >= kMaxPrincipals) {
      return absl::InvalidArgumentError(StrCat("more than ", kMaxPrincipals, " principals"));
    }
    ASSIGN_OR_RETURN(std::string p, pr.Text("principal"));
    c.principals.push_back(std::move(p));
  }
  ASSIGN_OR_RETURN(c.valid_after, r.U64("valid after"));
  ASSIGN_OR_RETURN(c.valid_before, r.U64("valid before"));
  if (c.valid_before < c.valid_after) {
    return absl::InvalidArgumentError("certificate validity ends before it starts");
  }
  ASSIGN_OR_RETURN(ByteSpan crit, r.String("critical options"));
  ASSIGN_OR_RETURN(c.critical_options, ParseOptions(crit, "critical option"));
  ASSIGN_OR_RETURN(ByteSpan ext, r.String("extensions"));
  ASSIGN_OR_RETURN(c.extensions, ParseOptions(ext, "extension"));
  RETURN_IF_ERROR(r.String("reserved").status());
  ASSIGN_OR_RETURN(ByteSpan sigkey, r.String("signature key"));
  RETURN_IF_ERROR(ParsePublicKey(sigkey).status());
  c.signature_key.assign(sigkey.begin(), sigkey.end());
  c.signed_length = blob.size() - r.remaining();
  ASSIGN_OR_RETURN(ByteSpan sig, r.String("signature"));
  c.signature.assign(sig.begin(), sig.end());
  RETURN_IF_ERROR(r.ExpectEnd("certificate"));
  return c;
}

absl::StatusOr<Certificate> ParseCertificateLine(std::string_view line) {
  std::vector<std::string_view> parts =
      StrSplit(line, ' ', /*skip_empty=*/true, /*max_parts=*/3);
  if (parts.size() < 2) {
    return absl::InvalidArgumentError("not an OpenSSH certificate line: expected \"TYPE BASE64\"");
  }
  std::string_view b64 = parts[1];
  while (!b64.empty() && (b64.back() == '\n' || b64.back() == '\r')) b64.remove_suffix(1);
  ASSIGN_OR_RETURN(Bytes blob, Base64Decode(b64));
  ASSIGN_OR_RETURN(Certificate c, ParseCertificate(blob));
  if (CertTypeName(c.key.type) != parts[0]) {
    return absl::InvalidArgumentError("certificate type in the line does not match its contents");
  }
  return c;
}

absl::Status VerifyCertificate(const Certificate& cert, ByteSpan blob) {
  ASSIGN_OR_RETURN(PublicKey ca, ParsePublicKey(cert.signature_key));
  if (cert.signed_length == 0 || cert.signed_length > blob.size()) {
    return absl::InvalidArgumentError("certificate was not parsed from this blob");
  }
  return VerifySshSignature(ca, cert.signature, blob.subspan(0, cert.signed_length));
}

}  // namespace warden
