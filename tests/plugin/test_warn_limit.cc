// The listener's warning limits (plugin/transport/warn_limit.h) on a clock the test moves: what a
// flood of refusals or of descriptor-exhaustion episodes logs, minute by minute.
#include "plugin/transport/warn_limit.h"

#include <gtest/gtest.h>

namespace squeeze::plugin {
namespace {

constexpr uint64_t kSecond = 1000000000ull;

TEST(WarnLimiter, TenAMinuteThenTheRestCountedIntoTheNextMinutesFirstWarning) {
  WarnLimiter limit(10);
  const uint64_t t0 = 5 * kSecond;
  uint64_t held = 99;
  for (int k = 0; k < 10; ++k) {
    EXPECT_TRUE(limit.allow(t0 + (uint64_t)k, &held)) << k;
    EXPECT_EQ(held, 0u);
  }
  for (int k = 0; k < 15; ++k) {
    EXPECT_FALSE(limit.allow(t0 + 59 * kSecond, &held)) << k;
    EXPECT_EQ(held, 0u);
  }
  // A minute after the window opened: the 15 held back are handed over once, with a warning.
  EXPECT_TRUE(limit.allow(t0 + 60 * kSecond, &held));
  EXPECT_EQ(held, 15u);
  for (int k = 1; k < 10; ++k) {
    EXPECT_TRUE(limit.allow(t0 + 61 * kSecond, &held)) << k;
    EXPECT_EQ(held, 0u);
  }
  EXPECT_FALSE(limit.allow(t0 + 62 * kSecond, &held));
  // A quiet minute: nothing held back is reported twice.
  EXPECT_TRUE(limit.allow(t0 + 200 * kSecond, &held));
  EXPECT_EQ(held, 1u);
  EXPECT_TRUE(limit.allow(t0 + 300 * kSecond, &held));
  EXPECT_EQ(held, 0u);
}

TEST(WarnLimiter, FirstCallAtTimeZeroIsAllowed) {
  // monotonic_ns() may be small on a freshly booted machine: the first window opens at the
  // first call, whatever its time.
  WarnLimiter limit(1);
  uint64_t held = 0;
  EXPECT_TRUE(limit.allow(0, &held));
  EXPECT_FALSE(limit.allow(1, &held));
  EXPECT_TRUE(limit.allow(kWarnWindowNs, &held));
  EXPECT_EQ(held, 1u);
}

TEST(EpisodeLog, FirstEpisodeOfAMinuteLoggedTheOthersCountedIntoTheNext) {
  EpisodeLog log;
  const uint64_t t0 = 0;  // a first episode at time 0 is logged too
  EpisodeLog::Start st = log.start(t0);
  EXPECT_TRUE(st.log);
  EXPECT_EQ(st.quiet_episodes, 0u);
  EXPECT_EQ(st.quiet_shed, 0u);
  EXPECT_TRUE(log.end(24));
  // A flood: an episode per poll for the rest of the minute, none logged.
  uint64_t shed_total = 0;
  for (uint64_t k = 1; k <= 640; ++k) {
    st = log.start(t0 + k * 90 * 1000000ull);  // every 90 ms, up to 57.6 s
    EXPECT_FALSE(st.log) << k;
    EXPECT_FALSE(log.end(k % 4)) << k;
    shed_total += k % 4;
  }
  // The next minute's first episode reports them, and is logged at its end.
  st = log.start(t0 + 60 * kSecond);
  EXPECT_TRUE(st.log);
  EXPECT_EQ(st.quiet_episodes, 640u);
  EXPECT_EQ(st.quiet_shed, shed_total);
  EXPECT_TRUE(log.end(3));
  // Counted once: the minute after, with no episode between, reports none.
  st = log.start(t0 + 200 * kSecond);
  EXPECT_TRUE(st.log);
  EXPECT_EQ(st.quiet_episodes, 0u);
  EXPECT_EQ(st.quiet_shed, 0u);
  EXPECT_TRUE(log.end(0));
}

TEST(EpisodeLog, AQuietEpisodeStillOpenIsCountedWhenItEnds) {
  EpisodeLog log;
  ASSERT_TRUE(log.start(0).log);
  ASSERT_TRUE(log.end(1));
  ASSERT_FALSE(log.start(kSecond).log);
  EXPECT_FALSE(log.end(7));
  const EpisodeLog::Start st = log.start(kWarnWindowNs);
  EXPECT_TRUE(st.log);
  EXPECT_EQ(st.quiet_episodes, 1u);
  EXPECT_EQ(st.quiet_shed, 7u);
}

}  // namespace
}  // namespace squeeze::plugin
