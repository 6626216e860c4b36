#include "common/krl.h"

#include "common/strings.h"
#include "common/sshbuf.h"

namespace warden {
namespace {

constexpr uint64_t kKrlMagic = 0x5353484b524c0a00ULL;  // "SSHKRL\n\0"
constexpr uint32_t kKrlFormatVersion = 1;
constexpr size_t kMaxKrlEntries = 1 << 20;
constexpr size_t kMaxBitmapBytes = 1 << 17;  // a million serials per bitmap

enum : uint8_t {
  kSectionCertificates = 1,
  kSectionExplicitKey = 2,
  kSectionFingerprintSha1 = 3,
  kSectionSignature = 4,
  kSectionFingerprintSha256 = 5,
  kSectionExtension = 255,
};
enum : uint8_t {
  kCertSerialList = 0x20,
  kCertSerialRange = 0x21,
  kCertSerialBitmap = 0x22,
  kCertKeyId = 0x23,
  kCertExtension = 0x39,
};

absl::Status ParseCertSection(SshReader& r, KrlCertSection& out, size_t& entries) {
  ASSIGN_OR_RETURN(ByteSpan ca, r.String("KRL CA key"));
  if (!ca.empty()) RETURN_IF_ERROR(ParsePublicKey(ca).status());
  out.ca_key.assign(ca.begin(), ca.end());
  RETURN_IF_ERROR(r.String("KRL certificate section reserved").status());
  auto bump = [&entries]() -> absl::Status {
    if (++entries > kMaxKrlEntries) {
      return absl::InvalidArgumentError(StrCat("KRL has more than ", kMaxKrlEntries,
                                                     " entries"));
    }
    return absl::OkStatus();
  };
  while (!r.empty()) {
    ASSIGN_OR_RETURN(uint8_t type, r.U8("KRL certificate subsection type"));
    ASSIGN_OR_RETURN(SshReader sr, r.Child("KRL certificate subsection"));
    if (ca.empty() && type != kCertKeyId) {
      return absl::InvalidArgumentError("KRL revokes serials without naming a CA key");
    }
    switch (type) {
      case kCertSerialList:
        while (!sr.empty()) {
          ASSIGN_OR_RETURN(uint64_t s, sr.U64("KRL serial"));
          if (s == 0) return absl::InvalidArgumentError("KRL revokes serial 0");
          RETURN_IF_ERROR(bump());
          out.serials.insert(s);
        }
        break;
      case kCertSerialRange: {
        ASSIGN_OR_RETURN(uint64_t lo, sr.U64("KRL serial range start"));
        ASSIGN_OR_RETURN(uint64_t hi, sr.U64("KRL serial range end"));
        RETURN_IF_ERROR(sr.ExpectEnd("KRL serial range"));
        if (lo == 0 || hi < lo) return absl::InvalidArgumentError("KRL serial range is invalid");
        RETURN_IF_ERROR(bump());
        out.serial_ranges.emplace_back(lo, hi);
        break;
      }
      case kCertSerialBitmap: {
        ASSIGN_OR_RETURN(uint64_t offset, sr.U64("KRL bitmap offset"));
        ASSIGN_OR_RETURN(ByteSpan bits, sr.PositiveMpint("KRL bitmap"));
        RETURN_IF_ERROR(sr.ExpectEnd("KRL bitmap"));
        if (bits.size() > kMaxBitmapBytes) {
          return absl::InvalidArgumentError(StrCat("KRL serial bitmap is ", bits.size(),
                                                   " bytes; the limit is ", kMaxBitmapBytes));
        }
        // Bit i (counting from the least significant bit of the big-endian mpint) revokes
        // serial offset + i.
        for (size_t i = 0; i < bits.size() * 8; i++) {
          const uint8_t byte = bits[bits.size() - 1 - i / 8];
          if (byte & (1u << (i % 8))) {
            if (offset + i < offset) return absl::InvalidArgumentError("KRL bitmap overflows");
            if (offset + i == 0) return absl::InvalidArgumentError("KRL revokes serial 0");
            RETURN_IF_ERROR(bump());
            out.serials.insert(offset + i);
          }
        }
        break;
      }
      case kCertKeyId:
        while (!sr.empty()) {
          ASSIGN_OR_RETURN(std::string id, sr.Text("KRL key id"));
          RETURN_IF_ERROR(bump());
          out.key_ids.insert(std::move(id));
        }
        break;
      case kCertExtension:
        break;  // extensions are ignorable unless marked critical; none are defined
      default:
        return absl::InvalidArgumentError(
            StrCat("unknown KRL certificate subsection type ", int(type)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Bytes EncodeKrl(const Krl& krl) {
  SshWriter w;
  w.U64(kKrlMagic);
  w.U32(kKrlFormatVersion);
  w.U64(krl.version);
  w.U64(krl.generated_date);
  w.U64(0);  // flags
  w.String(std::string_view());
  w.String(krl.comment);
  for (const auto& sec : krl.cert_sections) {
    SshWriter body;
    body.String(sec.ca_key);
    body.String(std::string_view());
    if (!sec.serials.empty()) {
      SshWriter list;
      for (uint64_t s : sec.serials) list.U64(s);
      body.U8(kCertSerialList);
      body.String(list.bytes());
    }
    for (const auto& [lo, hi] : sec.serial_ranges) {
      SshWriter range;
      range.U64(lo);
      range.U64(hi);
      body.U8(kCertSerialRange);
      body.String(range.bytes());
    }
    if (!sec.key_ids.empty()) {
      SshWriter ids;
      for (const auto& id : sec.key_ids) ids.String(id);
      body.U8(kCertKeyId);
      body.String(ids.bytes());
    }
    w.U8(kSectionCertificates);
    w.String(body.bytes());
  }
  auto blob_section = [&w](uint8_t type, const std::set<Bytes>& items) {
    if (items.empty()) return;
    SshWriter body;
    for (const auto& b : items) body.String(b);
    w.U8(type);
    w.String(body.bytes());
  };
  blob_section(kSectionExplicitKey, krl.explicit_keys);
  blob_section(kSectionFingerprintSha1, krl.sha1_fingerprints);
  blob_section(kSectionFingerprintSha256, krl.sha256_fingerprints);
  return w.Take();
}

absl::StatusOr<Krl> ParseKrl(ByteSpan blob) {
  SshReader r(blob);
  ASSIGN_OR_RETURN(uint64_t magic, r.U64("KRL magic"));
  if (magic != kKrlMagic) return absl::InvalidArgumentError("not an OpenSSH KRL (bad magic)");
  ASSIGN_OR_RETURN(uint32_t format, r.U32("KRL format version"));
  if (format != kKrlFormatVersion) {
    return absl::InvalidArgumentError(StrCat("unsupported KRL format version ", format));
  }
  Krl krl;
  ASSIGN_OR_RETURN(krl.version, r.U64("KRL version"));
  ASSIGN_OR_RETURN(krl.generated_date, r.U64("KRL date"));
  RETURN_IF_ERROR(r.U64("KRL flags").status());
  RETURN_IF_ERROR(r.String("KRL reserved").status());
  ASSIGN_OR_RETURN(krl.comment, r.Text("KRL comment"));
  size_t entries = 0;
  while (!r.empty()) {
    ASSIGN_OR_RETURN(uint8_t type, r.U8("KRL section type"));
    ASSIGN_OR_RETURN(SshReader sr, r.Child("KRL section"));
    switch (type) {
      case kSectionCertificates: {
        KrlCertSection sec;
        RETURN_IF_ERROR(ParseCertSection(sr, sec, entries));
        krl.cert_sections.push_back(std::move(sec));
        break;
      }
      case kSectionExplicitKey:
      case kSectionFingerprintSha1:
      case kSectionFingerprintSha256: {
        std::set<Bytes>& dst = type == kSectionExplicitKey       ? krl.explicit_keys
                               : type == kSectionFingerprintSha1 ? krl.sha1_fingerprints
                                                                 : krl.sha256_fingerprints;
        const size_t want = type == kSectionFingerprintSha1 ? 20 : 32;
        while (!sr.empty()) {
          ASSIGN_OR_RETURN(ByteSpan item, sr.String("KRL key entry"));
          if (type == kSectionExplicitKey) {
            RETURN_IF_ERROR(ParsePublicKey(item).status());
          } else if (item.size() != want) {
            return absl::InvalidArgumentError("KRL fingerprint has the wrong length");
          }
          if (++entries > kMaxKrlEntries) {
            return absl::InvalidArgumentError("KRL has too many entries");
          }
          dst.insert(Bytes(item.begin(), item.end()));
        }
        break;
      }
      case kSectionSignature:
        return absl::InvalidArgumentError(
            "signed KRLs are not accepted (OpenSSH 9.4 and later refuse them too)");
      case kSectionExtension:
        break;
      default:
        return absl::InvalidArgumentError(StrCat("unknown KRL section type ", int(type)));
    }
  }
  return krl;
}

bool KrlRevokesCertificate(const Krl& krl, const Certificate& cert) {
  if (krl.explicit_keys.count(cert.key.blob) ||
      krl.sha256_fingerprints.count(Sha256(cert.key.blob))) {
    return true;
  }
  for (const auto& sec : krl.cert_sections) {
    if (!sec.ca_key.empty() && sec.ca_key != cert.signature_key) continue;
    if (sec.key_ids.count(cert.key_id)) return true;
    if (sec.ca_key.empty()) continue;
    if (sec.serials.count(cert.serial)) return true;
    for (const auto& [lo, hi] : sec.serial_ranges) {
      if (cert.serial >= lo && cert.serial <= hi) return true;
    }
  }
  return false;
}

}  // namespace warden
