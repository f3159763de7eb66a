#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "cri/runtime/container_user.h"
#include "cri/runtime/stop_signal.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;

v1::Signal Cri(const char* name) {
  v1::Signal s = v1::RUNTIME_DEFAULT;
  EXPECT_TRUE(v1::Signal_Parse(name, &s)) << name;
  return s;
}

TEST(StopSignalTest, ParsesEveryImageSpelling) {
  EXPECT_EQ(ParseSignal("SIGQUIT"), SIGQUIT);
  EXPECT_EQ(ParseSignal("quit"), SIGQUIT);
  EXPECT_EQ(ParseSignal("3"), 3);
  EXPECT_EQ(ParseSignal("SIGRTMIN+3"), 37);
  EXPECT_EQ(ParseSignal("RTMAX-1"), 63);
  EXPECT_EQ(ParseSignal("SIGRTMINPLUS15"), 49);
  EXPECT_EQ(ParseSignal("SIGRTMAXMINUS14"), 50);
  EXPECT_EQ(ParseSignal("SIGRTMAX"), 64);
  EXPECT_EQ(ParseSignal(""), std::nullopt);
  EXPECT_EQ(ParseSignal("SIGNOPE"), std::nullopt);
  EXPECT_EQ(ParseSignal("0"), std::nullopt);
  EXPECT_EQ(ParseSignal("65"), std::nullopt);
  EXPECT_EQ(ParseSignal("SIGRTMIN+31"), std::nullopt);
}

TEST(StopSignalTest, EveryCriEnumValueRoundTripsThroughItsNumber) {
  const google::protobuf::EnumDescriptor* d = v1::Signal_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    auto value = static_cast<v1::Signal>(d->value(i)->number());
    if (value == v1::RUNTIME_DEFAULT) continue;
    std::optional<int> number = ParseSignal(v1::Signal_Name(value));
    ASSERT_TRUE(number.has_value()) << v1::Signal_Name(value);
    // Aliases (SIGCLD, SIGIOT, SIGPOLL) come back as their first name.
    EXPECT_EQ(ParseSignal(v1::Signal_Name(CriSignal(*number))), number)
        << v1::Signal_Name(value);
  }
  EXPECT_EQ(CriSignal(SIGUSR1), Cri("SIGUSR1"));
  EXPECT_EQ(CriSignal(35), Cri("SIGRTMINPLUS1"));
  EXPECT_EQ(CriSignal(63), Cri("SIGRTMAXMINUS1"));
  EXPECT_EQ(CriSignal(0), v1::RUNTIME_DEFAULT);
}

TEST(StopSignalTest, ConfigBeatsImageAndDefaultIsReportedAsSuch) {
  EXPECT_EQ(EffectiveStopSignal(Cri("SIGUSR1"), "SIGQUIT"), "SIGUSR1");
  EXPECT_EQ(EffectiveStopSignal(v1::RUNTIME_DEFAULT, "SIGQUIT"), "SIGQUIT");
  EXPECT_EQ(EffectiveStopSignal(v1::RUNTIME_DEFAULT, ""), "");
  EXPECT_EQ(StopSignalNumber("SIGUSR1"), SIGUSR1);
  EXPECT_EQ(StopSignalNumber("SIGRTMINPLUS2"), 36);
  EXPECT_EQ(StopSignalNumber(""), SIGTERM);
  EXPECT_EQ(StopSignalNumber("bogus"), SIGTERM);
  EXPECT_EQ(ReportedStopSignal(""), v1::RUNTIME_DEFAULT);
  EXPECT_EQ(ReportedStopSignal("3"), Cri("SIGQUIT"));
  EXPECT_EQ(ReportedStopSignal("SIGUSR1"), Cri("SIGUSR1"));
}

constexpr char kStatus[] =
    "Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\n"
    "Uid:\t1000\t1001\t1002\t1003\nGid:\t7\t8\t9\t10\n"
    "FDSize:\t64\nGroups:\t10 5 5 \nNStgid:\t1\n";

TEST(ContainerUserTest, ParsesRealIdsAndGroupsFromProcStatus) {
  std::optional<CriContainer::UserIds> ids = ParseProcStatusIds(kStatus);
  ASSERT_TRUE(ids.has_value());
  EXPECT_EQ(ids->uid, 1000u);
  EXPECT_EQ(ids->gid, 7u);
  EXPECT_EQ(ids->supplemental_groups, (std::vector<uint32_t>{5, 10}));
  ids = ParseProcStatusIds("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n");
  ASSERT_TRUE(ids.has_value());
  EXPECT_TRUE(ids->supplemental_groups.empty());
  EXPECT_FALSE(ParseProcStatusIds("").has_value());
  EXPECT_FALSE(ParseProcStatusIds("Uid:\tx\nGid:\t0\nGroups:\n").has_value());
  EXPECT_FALSE(ParseProcStatusIds("Uid:\t1\nGid:\t0\n").has_value());
}

TEST(ContainerUserTest, IdsInAUserNamespaceAreReportedAsInsideIt) {
  std::string proc = std::string(getenv("TEST_TMPDIR")) + "/proc-userns";
  std::filesystem::create_directories(proc + "/42");
  // What the host reads of a process of a pod mapped 0 -> 200000.
  std::ofstream(proc + "/42/status")
      << "Uid:\t201000\t201000\t201000\t201000\n"
         "Gid:\t200007\t200007\t200007\t200007\nGroups:\t200010 200005\n";
  std::ofstream(proc + "/42/uid_map") << "         0     200000      65536\n";
  std::ofstream(proc + "/42/gid_map") << "         0     200000      65536\n";
  CriContainer c;
  c.pid = 42;
  c.state = CriContainer::kRunning;
  std::optional<CriContainer::UserIds> ids = CurrentIds(c, proc);
  ASSERT_TRUE(ids.has_value());
  EXPECT_EQ(ids->uid, 1000u);
  EXPECT_EQ(ids->gid, 7u);
  EXPECT_EQ(ids->supplemental_groups, (std::vector<uint32_t>{5, 10}));
  // An id outside the map (the process is changing): the record stands in.
  std::ofstream(proc + "/42/uid_map") << "         0     300000      65536\n";
  c.user = CriContainer::UserIds{4242, 7, {}};
  EXPECT_EQ(CurrentIds(c, proc)->uid, 4242u);
}

TEST(ContainerUserTest, RunningReadsProcElseTheRecordedIds) {
  std::string proc = std::string(getenv("TEST_TMPDIR")) + "/proc";
  std::filesystem::create_directories(proc + "/42");
  std::ofstream(proc + "/42/status") << kStatus;
  CriContainer c;
  c.pid = 42;
  spec::User user;
  user.uid = 1000;
  user.gid = 0;
  user.additional_gids = {5, 3, 5};
  c.user = RecordedIds(user);
  EXPECT_EQ(c.user->supplemental_groups, (std::vector<uint32_t>{3, 5}));

  c.state = CriContainer::kRunning;
  EXPECT_EQ(CurrentIds(c, proc)->gid, 7u) << "live ids while it runs";
  c.state = CriContainer::kExited;
  EXPECT_EQ(CurrentIds(c, proc)->gid, 0u) << "recorded ids once it ended";
  c.state = CriContainer::kRunning;
  c.pid = 43;  // gone: the record stands in
  EXPECT_EQ(CurrentIds(c, proc)->uid, 1000u);
  EXPECT_EQ(CurrentIds(c, proc)->gid, 0u);
  c.user.reset();
  EXPECT_FALSE(CurrentIds(c, proc).has_value());

  v1::ContainerUser out;
  ToCriUser(*ParseProcStatusIds(kStatus), &out);
  EXPECT_EQ(out.linux().uid(), 1000);
  EXPECT_EQ(out.linux().gid(), 7);
  EXPECT_EQ(out.linux().supplemental_groups_size(), 2);
}

}  // namespace
}  // namespace cradle
