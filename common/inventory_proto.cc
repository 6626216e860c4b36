#include "common/inventory_proto.h"

namespace warden {

void ToProto(const InventoryAccount& in, v1::InventoryAccount* out) {
  out->set_name(in.name);
  out->set_uid(in.uid);
  for (const std::string& v : in.via) out->add_via(v);
  out->set_password(in.password);
  for (const InventoryKey& k : in.authorized_keys) {
    v1::InventoryKey* p = out->add_authorized_keys();
    p->set_file(k.file);
    p->set_type(k.type);
    p->set_fingerprint(k.fingerprint);
    p->set_comment(k.comment);
  }
}

void ToProto(const Inventory& in, v1::Inventory* out) {
  for (const InventoryAccount& a : in.privileged) ToProto(a, out->add_privileged());
  for (const SudoersRule& r : in.sudoers) {
    v1::InventorySudoersRule* p = out->add_sudoers();
    p->set_file(r.file);
    p->set_line(r.line);
    p->set_who(r.who);
    p->set_text(r.text);
  }
  for (const std::string& k : in.root_private_keys) out->add_root_private_keys(k);
  for (const std::string& b : in.break_glass) out->add_break_glass(b);
  for (const std::string& p : in.problems) out->add_problems(p);
}

void ToProto(const HostLogin& in, v1::HostLogin* out) {
  out->set_user(in.user);
  out->set_line(in.line);
  out->set_from(in.from);
  out->set_at_unix_us(in.at_us);
  out->set_pid(in.pid);
  out->set_kind(in.kind);
  out->set_key(in.key);
}

Inventory FromProto(const v1::Inventory& in) {
  Inventory out;
  for (const v1::InventoryAccount& a : in.privileged()) {
    InventoryAccount acc;
    acc.name = a.name();
    acc.uid = a.uid();
    acc.via.assign(a.via().begin(), a.via().end());
    acc.password = a.password();
    for (const v1::InventoryKey& k : a.authorized_keys())
      acc.authorized_keys.push_back({k.file(), k.type(), k.fingerprint(), k.comment()});
    out.privileged.push_back(std::move(acc));
  }
  for (const v1::InventorySudoersRule& r : in.sudoers())
    out.sudoers.push_back({r.file(), r.line(), r.who(), r.text()});
  out.root_private_keys.assign(in.root_private_keys().begin(), in.root_private_keys().end());
  out.break_glass.assign(in.break_glass().begin(), in.break_glass().end());
  out.problems.assign(in.problems().begin(), in.problems().end());
  return out;
}

HostLogin FromProto(const v1::HostLogin& in) {
  return {in.user(), in.line(), in.from(), in.at_unix_us(), in.pid(), in.kind(), in.key()};
}

}  // namespace warden
