#include "controller/keys/pkcs11_keystore.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <cstring>

#include "common/strings.h"
#include "common/sshbuf.h"

namespace warden {
namespace {

// DER OIDs for CKA_EC_PARAMS: id-Ed25519 (RFC 8410) and prime256v1.
constexpr uint8_t kEd25519Oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
constexpr uint8_t kP256Oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

std::string RvName(CK_RV rv) {
  switch (rv) {
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT (wrong token PIN)";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED (token PIN locked)";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY (token full)";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID (mechanism not supported)";
    case CKR_DOMAIN_PARAMS_INVALID: return "CKR_DOMAIN_PARAMS_INVALID (curve not supported)";
    default: {
      char buf[32];
      snprintf(buf, sizeof(buf), "CKR 0x%lx", static_cast<unsigned long>(rv));
      return buf;
    }
  }
}

absl::Status Check(CK_RV rv, std::string_view what) {
  if (rv == CKR_OK) return absl::OkStatus();
  return absl::UnavailableError(StrCat("PKCS#11 ", what, " failed: ", RvName(rv)));
}

// CKA_EC_POINT is a DER OCTET STRING per the standard; some tokens return the raw point.
Bytes UnwrapEcPoint(const Bytes& v) {
  if (v.size() >= 2 && v[0] == 0x04) {
    size_t len = v[1], hdr = 2;
    if (len == 0x81 && v.size() >= 3) {
      len = v[2];
      hdr = 3;
    }
    if (hdr + len == v.size() && (len == 32 || len == 65)) return Bytes(v.begin() + hdr, v.end());
  }
  return v;
}

struct Module {
  void* handle = nullptr;
  CK_FUNCTION_LIST_PTR f = nullptr;

  absl::Status Load(const std::string& path) {
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      return absl::FailedPreconditionError(StrCat(
          "cannot load PKCS#11 module ", path, ": ", dlerror(),
          " (install softhsm2, or set keystore.module to your HSM's module)"));
    }
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
    if (!get) return absl::FailedPreconditionError(path + " is not a PKCS#11 module");
    RETURN_IF_ERROR(Check(get(&f), "C_GetFunctionList"));
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) return Check(rv, "C_Initialize");
    return absl::OkStatus();
  }
  ~Module() {
    if (f) f->C_Finalize(nullptr);
    // The module is not dlclose()d: some tokens leave threads or atexit handlers behind.
  }
};

std::string PaddedLabel(std::string_view label) {
  std::string out(32, ' ');
  std::memcpy(out.data(), label.data(), std::min<size_t>(label.size(), 32));
  return out;
}

absl::StatusOr<CK_SLOT_ID> FindSlot(CK_FUNCTION_LIST_PTR f, std::string_view token_label,
                                    bool want_uninitialized) {
  CK_ULONG n = 0;
  RETURN_IF_ERROR(Check(f->C_GetSlotList(CK_TRUE, nullptr, &n), "C_GetSlotList"));
  std::vector<CK_SLOT_ID> slots(n);
  RETURN_IF_ERROR(Check(f->C_GetSlotList(CK_TRUE, slots.data(), &n), "C_GetSlotList"));
  const std::string want = PaddedLabel(token_label);
  for (CK_ULONG i = 0; i < n; i++) {
    CK_TOKEN_INFO info;
    if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    const bool initialized = info.flags & CKF_TOKEN_INITIALIZED;
    if (want_uninitialized && !initialized) return slots[i];
    if (!want_uninitialized && initialized &&
        std::memcmp(info.label, want.data(), sizeof(info.label)) == 0) {
      return slots[i];
    }
  }
  if (want_uninitialized) return absl::FailedPreconditionError("no free PKCS#11 slot for a new token");
  return absl::NotFoundError(StrCat("no PKCS#11 token labelled \"", token_label,
                                          "\"; run warden-controller init first"));
}

}  // namespace

struct Pkcs11KeyStore::Impl {
  Module module;
  CK_SLOT_ID slot = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<CK_SESSION_HANDLE> free_sessions;
  std::vector<CK_SESSION_HANDLE> all_sessions;
  struct KeyInfo {
    CK_OBJECT_HANDLE priv;
    KeyAlgorithm alg;
    PublicKey pub;
  };
  std::map<std::string, KeyInfo, std::less<>> keys;  // cache, guarded by mu
  bool has_eddsa = false;

  CK_FUNCTION_LIST_PTR f() { return module.f; }

  // Borrows a session for the lifetime of the lease.
  class Lease {
   public:
    explicit Lease(Impl& impl) : impl_(impl) {
      std::unique_lock lock(impl_.mu);
      impl_.cv.wait(lock, [this] { return !impl_.free_sessions.empty(); });
      s_ = impl_.free_sessions.back();
      impl_.free_sessions.pop_back();
    }
    ~Lease() {
      {
        std::lock_guard lock(impl_.mu);
        impl_.free_sessions.push_back(s_);
      }
      impl_.cv.notify_one();
    }
    CK_SESSION_HANDLE get() const { return s_; }

   private:
    Impl& impl_;
    CK_SESSION_HANDLE s_;
  };

  absl::StatusOr<CK_OBJECT_HANDLE> FindObject(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                                              std::string_view label) {
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
    };
    RETURN_IF_ERROR(Check(f()->C_FindObjectsInit(s, tmpl, 2), "C_FindObjectsInit"));
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    CK_RV rv = f()->C_FindObjects(s, h, 2, &n);
    f()->C_FindObjectsFinal(s);
    RETURN_IF_ERROR(Check(rv, "C_FindObjects"));
    if (n == 0) return absl::NotFoundError(StrCat("no key \"", label, "\" on the token"));
    if (n > 1) return absl::FailedPreconditionError(StrCat("two keys labelled \"", label, "\""));
    return h[0];
  }

  absl::StatusOr<Bytes> GetAttribute(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t) {
    CK_ATTRIBUTE a = {t, nullptr, 0};
    RETURN_IF_ERROR(Check(f()->C_GetAttributeValue(s, o, &a, 1), "C_GetAttributeValue"));
    Bytes v(a.ulValueLen);
    a.pValue = v.data();
    RETURN_IF_ERROR(Check(f()->C_GetAttributeValue(s, o, &a, 1), "C_GetAttributeValue"));
    v.resize(a.ulValueLen);
    return v;
  }

  absl::StatusOr<KeyInfo> Load(std::string_view label) {
    {
      std::lock_guard lock(mu);
      auto it = keys.find(label);
      if (it != keys.end()) return it->second;
    }
    Lease lease(*this);
    ASSIGN_OR_RETURN(CK_OBJECT_HANDLE priv, FindObject(lease.get(), CKO_PRIVATE_KEY, label));
    ASSIGN_OR_RETURN(CK_OBJECT_HANDLE pubh, FindObject(lease.get(), CKO_PUBLIC_KEY, label));
    ASSIGN_OR_RETURN(Bytes type_bytes, GetAttribute(lease.get(), pubh, CKA_KEY_TYPE));
    CK_KEY_TYPE kt = 0;
    if (type_bytes.size() != sizeof(kt)) return absl::InternalError("bad CKA_KEY_TYPE");
    std::memcpy(&kt, type_bytes.data(), sizeof(kt));
    ASSIGN_OR_RETURN(Bytes point, GetAttribute(lease.get(), pubh, CKA_EC_POINT));
    point = UnwrapEcPoint(point);
    SshWriter w;
    KeyInfo info{priv, KeyAlgorithm::kEd25519, {}};
    if (kt == CKK_EC_EDWARDS) {
      if (point.size() != 32) return absl::InternalError("token returned a malformed Ed25519 key");
      w.String(KeyTypeName(KeyType::kEd25519));
      w.String(point);
    } else if (kt == CKK_EC) {
      if (point.size() != 65) return absl::InternalError("token returned a malformed P-256 key");
      info.alg = KeyAlgorithm::kEcdsaP256;
      w.String(KeyTypeName(KeyType::kEcdsaP256));
      w.String("nistp256");
      w.String(point);
    } else {
      return absl::FailedPreconditionError(StrCat("key \"", label, "\" has an unsupported type"));
    }
    ASSIGN_OR_RETURN(info.pub, ParsePublicKey(w.bytes()));
    std::lock_guard lock(mu);
    keys.emplace(std::string(label), info);
    return info;
  }
};

Pkcs11KeyStore::Pkcs11KeyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Pkcs11KeyStore::~Pkcs11KeyStore() {
  for (CK_SESSION_HANDLE s : impl_->all_sessions) impl_->f()->C_CloseSession(s);
}

absl::Status Pkcs11KeyStore::InitToken(const Pkcs11Config& config, std::string_view so_pin) {
  Module m;
  RETURN_IF_ERROR(m.Load(config.module_path));
  if (FindSlot(m.f, config.token_label, false).ok()) {
    return absl::AlreadyExistsError(StrCat("a token labelled \"", config.token_label,
                                                 "\" already exists"));
  }
  ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindSlot(m.f, "", true));
  std::string label = PaddedLabel(config.token_label);
  RETURN_IF_ERROR(Check(m.f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin.data(), so_pin.size(),
                                         (CK_UTF8CHAR_PTR)label.data()),
                        "C_InitToken"));
  // SoftHSM moves the new token to a new slot id; find it by label.
  ASSIGN_OR_RETURN(slot, FindSlot(m.f, config.token_label, false));
  CK_SESSION_HANDLE s;
  RETURN_IF_ERROR(Check(m.f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                           nullptr, &s),
                        "C_OpenSession"));
  absl::Status st = Check(m.f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin.data(), so_pin.size()),
                          "C_Login(SO)");
  if (st.ok()) {
    st = Check(m.f->C_InitPIN(s, (CK_UTF8CHAR_PTR)config.pin.data(), config.pin.size()),
               "C_InitPIN");
    m.f->C_Logout(s);
  }
  m.f->C_CloseSession(s);
  return st;
}

absl::StatusOr<std::unique_ptr<Pkcs11KeyStore>> Pkcs11KeyStore::Open(const Pkcs11Config& config) {
  auto impl = std::make_unique<Impl>();
  RETURN_IF_ERROR(impl->module.Load(config.module_path));
  ASSIGN_OR_RETURN(impl->slot, FindSlot(impl->f(), config.token_label, false));
  for (int i = 0; i < std::max(1, config.sessions); i++) {
    CK_SESSION_HANDLE s;
    RETURN_IF_ERROR(Check(impl->f()->C_OpenSession(impl->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                                   nullptr, nullptr, &s),
                          "C_OpenSession"));
    impl->all_sessions.push_back(s);
    impl->free_sessions.push_back(s);
  }
  CK_RV rv = impl->f()->C_Login(impl->all_sessions[0], CKU_USER,
                                (CK_UTF8CHAR_PTR)config.pin.data(), config.pin.size());
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) RETURN_IF_ERROR(Check(rv, "C_Login"));
  CK_ULONG n = 0;
  RETURN_IF_ERROR(Check(impl->f()->C_GetMechanismList(impl->slot, nullptr, &n), "C_GetMechanismList"));
  std::vector<CK_MECHANISM_TYPE> mechs(n);
  RETURN_IF_ERROR(Check(impl->f()->C_GetMechanismList(impl->slot, mechs.data(), &n),
                        "C_GetMechanismList"));
  for (auto m : mechs) impl->has_eddsa |= (m == CKM_EDDSA);
  return std::unique_ptr<Pkcs11KeyStore>(new Pkcs11KeyStore(std::move(impl)));
}

bool Pkcs11KeyStore::Supports(KeyAlgorithm alg) {
  return alg == KeyAlgorithm::kEcdsaP256 || impl_->has_eddsa;
}

absl::StatusOr<PublicKey> Pkcs11KeyStore::Generate(std::string_view label, KeyAlgorithm alg) {
  if (!Supports(alg)) {
    return absl::FailedPreconditionError(StrCat("the token does not support ",
                                                      KeyAlgorithmName(alg)));
  }
  {
    Impl::Lease lease(*impl_);
    if (impl_->FindObject(lease.get(), CKO_PRIVATE_KEY, label).ok()) {
      return absl::AlreadyExistsError(StrCat("key \"", label, "\" already exists"));
    }
    CK_MECHANISM mech = {alg == KeyAlgorithm::kEd25519 ? CKM_EC_EDWARDS_KEY_PAIR_GEN
                                                       : CKM_EC_KEY_PAIR_GEN,
                         nullptr, 0};
    const uint8_t* params = alg == KeyAlgorithm::kEd25519 ? kEd25519Oid : kP256Oid;
    const size_t params_len = alg == KeyAlgorithm::kEd25519 ? sizeof(kEd25519Oid) : sizeof(kP256Oid);
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    Bytes id = Sha256(AsBytes(label));
    id.resize(16);
    CK_ATTRIBUTE pub[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
        {CKA_ID, id.data(), id.size()},
        {CKA_EC_PARAMS, const_cast<uint8_t*>(params), params_len},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
        {CKA_ID, id.data(), id.size()},
    };
    CK_OBJECT_HANDLE hpub, hpriv;
    RETURN_IF_ERROR(Check(impl_->f()->C_GenerateKeyPair(lease.get(), &mech, pub, 5, priv, 10, &hpub,
                                                        &hpriv),
                          "C_GenerateKeyPair"));
  }
  ASSIGN_OR_RETURN(Impl::KeyInfo info, impl_->Load(label));
  return info.pub;
}

absl::StatusOr<PublicKey> Pkcs11KeyStore::GetPublicKey(std::string_view label) {
  ASSIGN_OR_RETURN(Impl::KeyInfo info, impl_->Load(label));
  return info.pub;
}

absl::StatusOr<RawSignature> Pkcs11KeyStore::Sign(std::string_view label, ByteSpan data) {
  ASSIGN_OR_RETURN(Impl::KeyInfo info, impl_->Load(label));
  Bytes digest;
  ByteSpan input = data;
  CK_MECHANISM mech = {CKM_EDDSA, nullptr, 0};
  if (info.alg == KeyAlgorithm::kEcdsaP256) {
    mech.mechanism = CKM_ECDSA;
    digest = Sha256(data);
    input = digest;
  }
  Impl::Lease lease(*impl_);
  RETURN_IF_ERROR(Check(impl_->f()->C_SignInit(lease.get(), &mech, info.priv), "C_SignInit"));
  Bytes sig(64);
  CK_ULONG len = sig.size();
  RETURN_IF_ERROR(Check(impl_->f()->C_Sign(lease.get(), const_cast<uint8_t*>(input.data()),
                                           input.size(), sig.data(), &len),
                        "C_Sign"));
  if (len != 64) return absl::InternalError("token returned a signature of unexpected length");
  return RawSignature{info.alg == KeyAlgorithm::kEd25519 ? KeyType::kEd25519 : KeyType::kEcdsaP256,
                      std::move(sig)};
}

absl::Status Pkcs11KeyStore::GenerateEncryptionKey(std::string_view label) {
  Impl::Lease lease(*impl_);
  if (impl_->FindObject(lease.get(), CKO_SECRET_KEY, label).ok())
    return absl::AlreadyExistsError(StrCat("key \"", label, "\" already exists"));
  CK_MECHANISM mech = {CKM_AES_KEY_GEN, nullptr, 0};
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG len = 32;
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof(cls)},
      {CKA_KEY_TYPE, &type, sizeof(type)},
      {CKA_VALUE_LEN, &len, sizeof(len)},
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_PRIVATE, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &yes, sizeof(yes)},
      {CKA_EXTRACTABLE, &no, sizeof(no)},
      {CKA_ENCRYPT, &yes, sizeof(yes)},
      {CKA_DECRYPT, &yes, sizeof(yes)},
      {CKA_WRAP, &no, sizeof(no)},
      {CKA_UNWRAP, &no, sizeof(no)},
      {CKA_SIGN, &no, sizeof(no)},
      {CKA_VERIFY, &no, sizeof(no)},
      {CKA_DERIVE, &no, sizeof(no)},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
  };
  CK_OBJECT_HANDLE h;
  return Check(impl_->f()->C_GenerateKey(lease.get(), &mech, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &h),
               "C_GenerateKey");
}

absl::StatusOr<Bytes> Pkcs11KeyStore::Encrypt(std::string_view label, ByteSpan aad,
                                              ByteSpan plaintext) {
  Impl::Lease lease(*impl_);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, impl_->FindObject(lease.get(), CKO_SECRET_KEY, label));
  Bytes out = RandomBytes(12);
  CK_GCM_PARAMS gcm = {out.data(), 12, 96, const_cast<uint8_t*>(aad.data()), aad.size(), 128};
  CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
  RETURN_IF_ERROR(Check(impl_->f()->C_EncryptInit(lease.get(), &mech, key), "C_EncryptInit"));
  out.resize(12 + plaintext.size() + 16);
  CK_ULONG n = out.size() - 12;
  RETURN_IF_ERROR(Check(impl_->f()->C_Encrypt(lease.get(), const_cast<uint8_t*>(plaintext.data()),
                                              plaintext.size(), out.data() + 12, &n),
                        "C_Encrypt"));
  out.resize(12 + n);
  return out;
}

absl::StatusOr<SecretBytes> Pkcs11KeyStore::Decrypt(std::string_view label, ByteSpan aad,
                                                    ByteSpan blob) {
  if (blob.size() < 12 + 16) return absl::DataLossError("encrypted blob is truncated");
  Impl::Lease lease(*impl_);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, impl_->FindObject(lease.get(), CKO_SECRET_KEY, label));
  Bytes iv(blob.begin(), blob.begin() + 12);
  CK_GCM_PARAMS gcm = {iv.data(), 12, 96, const_cast<uint8_t*>(aad.data()), aad.size(), 128};
  CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
  RETURN_IF_ERROR(Check(impl_->f()->C_DecryptInit(lease.get(), &mech, key), "C_DecryptInit"));
  SecretBytes out(blob.size() - 12);
  CK_ULONG n = out.size();
  CK_RV rv = impl_->f()->C_Decrypt(lease.get(), const_cast<uint8_t*>(blob.data() + 12),
                                   blob.size() - 12, out.data(), &n);
  // A tag mismatch: CKR_ENCRYPTED_DATA_INVALID by the standard; SoftHSM2 says CKR_GENERAL_ERROR.
  if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_GENERAL_ERROR)
    return absl::DataLossError("encrypted blob does not authenticate (altered, or not from here)");
  RETURN_IF_ERROR(Check(rv, "C_Decrypt"));
  SecretBytes exact(ByteSpan(out.data(), n));
  return exact;
}

absl::Status Pkcs11KeyStore::CreateMacKey(std::string_view label, ByteSpan value) {
  Impl::Lease lease(*impl_);
  if (impl_->FindObject(lease.get(), CKO_SECRET_KEY, label).ok())
    return absl::AlreadyExistsError(StrCat("key \"", label, "\" already exists"));
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG len = 32;
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  std::vector<CK_ATTRIBUTE> tmpl = {
      {CKA_CLASS, &cls, sizeof(cls)},
      {CKA_KEY_TYPE, &type, sizeof(type)},
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_PRIVATE, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &yes, sizeof(yes)},
      {CKA_EXTRACTABLE, &no, sizeof(no)},
      {CKA_SIGN, &yes, sizeof(yes)},
      {CKA_VERIFY, &yes, sizeof(yes)},
      {CKA_ENCRYPT, &no, sizeof(no)},
      {CKA_DECRYPT, &no, sizeof(no)},
      {CKA_WRAP, &no, sizeof(no)},
      {CKA_UNWRAP, &no, sizeof(no)},
      {CKA_DERIVE, &no, sizeof(no)},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
  };
  CK_OBJECT_HANDLE h;
  if (value.empty()) {
    tmpl.push_back({CKA_VALUE_LEN, &len, sizeof(len)});
    CK_MECHANISM mech = {CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
    return Check(impl_->f()->C_GenerateKey(lease.get(), &mech, tmpl.data(), tmpl.size(), &h),
                 "C_GenerateKey");
  }
  tmpl.push_back({CKA_VALUE, const_cast<uint8_t*>(value.data()), value.size()});
  return Check(impl_->f()->C_CreateObject(lease.get(), tmpl.data(), tmpl.size(), &h),
               "C_CreateObject");
}

absl::Status Pkcs11KeyStore::GenerateMacKey(std::string_view label) {
  return CreateMacKey(label, {});
}

absl::Status Pkcs11KeyStore::ImportMacKey(std::string_view label, ByteSpan key) {
  if (key.empty()) return absl::InvalidArgumentError("an empty MAC key");
  return CreateMacKey(label, key);
}

absl::StatusOr<Bytes> Pkcs11KeyStore::Mac(std::string_view label, ByteSpan data) {
  Impl::Lease lease(*impl_);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, impl_->FindObject(lease.get(), CKO_SECRET_KEY, label));
  CK_MECHANISM mech = {CKM_SHA256_HMAC, nullptr, 0};
  RETURN_IF_ERROR(Check(impl_->f()->C_SignInit(lease.get(), &mech, key), "C_SignInit"));
  Bytes mac(32);
  CK_ULONG len = mac.size();
  RETURN_IF_ERROR(Check(impl_->f()->C_Sign(lease.get(), const_cast<uint8_t*>(data.data()),
                                           data.size(), mac.data(), &len),
                        "C_Sign"));
  if (len != 32) return absl::InternalError("token returned an HMAC of unexpected length");
  return mac;
}

}  // namespace warden
