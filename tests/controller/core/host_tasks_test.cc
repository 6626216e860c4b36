// The controller's tasks for hosts: who gets a task, and what the one waiting learns when no
// answer comes (rotation keeps a new password pending only when the host may have set it).
#include "controller/core/host_tasks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace warden {
namespace {

using std::chrono::milliseconds;

HostTask Check(std::string login) {
  return HostTask{HostTask::Kind::kCheckPassword, std::move(login), SecretBytes(AsBytes("pw-123456789"))};
}

// A host's stream as the gRPC reactor drives it: takes each task it is woken for.
struct FakeStream {
  FakeStream(HostTasks& tasks, const std::string& host) : tasks(tasks) {
    id = tasks.Attach(host, [this] { woken++; });
  }
  std::optional<DispatchedTask> Take() {
    for (int i = 0; i < 500; i++) {
      if (auto t = tasks.Next(id)) return t;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return std::nullopt;
  }
  HostTasks& tasks;
  uint64_t id = 0;
  std::atomic<int> woken{0};
};

TEST(HostTasks, AHostThatIsNotConnectedIsUnavailableAtOnce) {
  HostTasks tasks;
  absl::Status st = tasks.Run("h-db1", Check("root"), milliseconds(5000));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("host h-db1 is not connected"), std::string::npos) << st.message();
}

TEST(HostTasks, TheHostsAnswerReachesTheCallerAndOnlyThatHostMayGiveIt) {
  HostTasks tasks;
  FakeStream db1(tasks, "h-db1");
  FakeStream web1(tasks, "h-web1");
  auto result = std::async(std::launch::async, [&] {
    return tasks.Run("h-db1", Check("svc"), milliseconds(10000));
  });
  std::optional<DispatchedTask> t = db1.Take();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->login, "svc");
  EXPECT_EQ(t->password.view(), "pw-123456789");
  EXPECT_FALSE(tasks.Next(web1.id).has_value()) << "another host's stream never sees it";
  EXPECT_EQ(tasks.Finish("h-web1", t->id, absl::OkStatus()).code(), absl::StatusCode::kNotFound)
      << "another host cannot answer it";
  ASSERT_TRUE(tasks.Finish("h-db1", t->id, absl::PermissionDeniedError("refused")).ok());
  EXPECT_EQ(result.get().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(tasks.Finish("h-db1", t->id, absl::OkStatus()).code(), absl::StatusCode::kNotFound)
      << "an answer counts once";
}

TEST(HostTasks, ATaskTakenButNotAnsweredMayHaveBeenDoneOneNeverTakenWasNot) {
  HostTasks tasks;
  FakeStream db1(tasks, "h-db1");
  auto taken = std::async(std::launch::async, [&] {
    return tasks.Run("h-db1", Check("svc"), milliseconds(1500));
  });
  ASSERT_TRUE(db1.Take().has_value());
  absl::Status st = taken.get();
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st.message();
  EXPECT_NE(st.message().find("it may have been done"), std::string::npos) << st.message();
  // Nobody takes this one.
  st = tasks.Run("h-db1", Check("svc"), milliseconds(500));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st.message();
}

TEST(HostTasks, AQueuedTaskGoesToTheHostsNewestStreamOrFailsWhenTheHostGoesAway) {
  HostTasks tasks;
  auto old_stream = std::make_unique<FakeStream>(tasks, "h-db1");
  FakeStream reconnected(tasks, "h-db1");
  auto result = std::async(std::launch::async, [&] {
    return tasks.Run("h-db1", Check("svc"), milliseconds(10000));
  });
  std::optional<DispatchedTask> t = reconnected.Take();
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(tasks.Next(old_stream->id).has_value());
  ASSERT_TRUE(tasks.Finish("h-db1", t->id, absl::OkStatus()).ok());
  EXPECT_TRUE(result.get().ok());

  // The newest stream goes: an older one still open takes over.
  tasks.Detach(reconnected.id);
  auto second = std::async(std::launch::async, [&] {
    return tasks.Run("h-db1", Check("svc"), milliseconds(10000));
  });
  t = old_stream->Take();
  ASSERT_TRUE(t.has_value());
  ASSERT_TRUE(tasks.Finish("h-db1", t->id, absl::OkStatus()).ok());
  EXPECT_TRUE(second.get().ok());

  // The last stream goes with a task queued: its caller hears at once, not at its timeout.
  std::atomic<bool> queued{false};
  auto third = std::async(std::launch::async, [&] {
    queued = true;
    return tasks.Run("h-db1", Check("svc"), milliseconds(60000));
  });
  while (!queued || old_stream->woken < 4) std::this_thread::sleep_for(milliseconds(2));
  tasks.Detach(old_stream->id);
  absl::Status st = third.get();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st.message();
  EXPECT_NE(st.message().find("went away before it took the task"), std::string::npos) << st.message();
}

TEST(HostTasks, TwoStreamsOfAHostClosingTogetherLeaveNoStreamBehind) {
  HostTasks tasks;
  std::atomic<bool> release{false}, in_wake{false};
  const uint64_t older = tasks.Attach("h-db1", [] {});
  // The newer stream's wake is slow: its Detach waits for it while the older one is detached.
  std::atomic<int> wakes{0};
  const uint64_t newer = tasks.Attach("h-db1", [&] {
    if (wakes++ != 1) return;  // the first wake is Attach's own; the second is the task's
    in_wake = true;
    while (!release) std::this_thread::sleep_for(milliseconds(1));
  });
  auto run = std::async(std::launch::async, [&] {
    return tasks.Run("h-db1", Check("svc"), milliseconds(60000));
  });
  while (!in_wake) std::this_thread::sleep_for(milliseconds(1));
  auto detach_newer = std::async(std::launch::async, [&] { tasks.Detach(newer); });
  std::this_thread::sleep_for(milliseconds(50));  // let it reach its wait (it may not: no harm)
  tasks.Detach(older);
  release = true;
  detach_newer.get();
  absl::Status st = run.get();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st.message();
  // The host has no stream left: a new task is refused at once, not sent into a closed one.
  EXPECT_NE(tasks.Run("h-db1", Check("svc"), milliseconds(60000)).message().find("is not connected"),
            std::string::npos);
}

}  // namespace
}  // namespace warden
