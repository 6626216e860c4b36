#include "common/sshbuf.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(SshReader, ReadsWhatTheWriterWrote) {
  SshWriter w;
  w.U8(7);
  w.U32(0xdeadbeef);
  w.U64(0x0102030405060708ULL);
  w.String("hello");
  SshReader r(w.bytes());
  EXPECT_EQ(*r.U8("a"), 7);
  EXPECT_EQ(*r.U32("b"), 0xdeadbeefu);
  EXPECT_EQ(*r.U64("c"), 0x0102030405060708ULL);
  EXPECT_EQ(*r.Text("d"), "hello");
  EXPECT_TRUE(r.ExpectEnd("buffer").ok());
}

TEST(SshReader, TruncatedStringNamesTheField) {
  SshWriter w;
  w.U32(10);
  w.Raw(AsBytes("abc"));
  SshReader r(w.bytes());
  auto s = r.String("key id");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("truncated key id"), std::string::npos);
}

TEST(SshReader, ChildCannotReadPastItsParent) {
  SshWriter inner;
  inner.U32(100);  // claims 100 bytes that are not inside the child
  SshWriter w;
  w.String(inner.bytes());
  w.Raw(Bytes(200, 0));
  SshReader r(w.bytes());
  auto child = r.Child("options");
  ASSERT_TRUE(child.ok());
  EXPECT_FALSE(child->String("option").ok());
}

TEST(SshReader, TrailingBytesAreRejected) {
  SshWriter w;
  w.U32(1);
  w.U8(0);
  SshReader r(w.bytes());
  ASSERT_TRUE(r.U32("x").ok());
  EXPECT_FALSE(r.ExpectEnd("thing").ok());
}

TEST(SshReader, MpintRejectsNegativeAndNeedlessZero) {
  SshWriter neg;
  neg.String(Bytes{0x80, 0x01});
  EXPECT_FALSE(SshReader(neg.bytes()).PositiveMpint("n").ok());
  SshWriter zero;
  zero.String(Bytes{0x00, 0x01});
  EXPECT_FALSE(SshReader(zero.bytes()).PositiveMpint("n").ok());
  SshWriter ok;
  ok.Mpint(Bytes{0x80, 0x01});  // writer adds the sign byte
  auto m = SshReader(ok.bytes()).PositiveMpint("n");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Bytes(m->begin(), m->end()), (Bytes{0x80, 0x01}));
}

TEST(SshReader, TextRejectsNulAndNewline) {
  SshWriter w;
  w.String(std::string_view("a\nb"));
  EXPECT_FALSE(SshReader(w.bytes()).Text("principal").ok());
}

}  // namespace
}  // namespace warden
