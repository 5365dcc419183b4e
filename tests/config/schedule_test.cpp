#include <gtest/gtest.h>

#include "deepzine/model/schedule.h"

using namespace deepzine::model;

TEST(Schedule, FiltersFollowTheOriginalGetFilterNum) {
  ArchitectureSpec a;
  a.max_filter = 128;
  a.filter_reduction_depth = 5;  // filter_num_reduction_transition_size 64, as the original config
  EXPECT_EQ(a.filters(4), 128);
  EXPECT_EQ(a.filters(8), 128);
  EXPECT_EQ(a.filters(16), 128);
  EXPECT_EQ(a.filters(32), 128);
  EXPECT_EQ(a.filters(64), 64);
  EXPECT_EQ(a.filters(128), 32);
  EXPECT_EQ(a.filters(256), 16);
  a.legacy_filters = true;  // pretrained_model: True
  EXPECT_EQ(a.filters(64), 64);
  EXPECT_EQ(a.filters(128), 16);
  EXPECT_EQ(a.filters(1024), 16);
}

TEST(Schedule, StagesAreStableFourThenTransitionAndStablePerDoubling) {
  ScheduleSpec s;
  s.output_size = 32;
  s.iterations_per_stage = 10;
  s.batch_size = 16;
  s.reduced_batch_size = 4;
  s.batch_reduction_depth = 4;  // size 32
  auto st = s.stages();
  ASSERT_EQ(st.size(), 7u);
  EXPECT_EQ(st[0].name(), "4");
  EXPECT_EQ(st[1].name(), "8_Transition");
  EXPECT_EQ(st[2].name(), "8");
  EXPECT_EQ(st[6].name(), "32");
  EXPECT_EQ(st[4].batch_size, 16);
  EXPECT_EQ(st[5].batch_size, 4);
  EXPECT_EQ(st[6].iterations, 10);

  s.starting_size = 16;  // continue from the saved 8x8 model
  st = s.stages();
  ASSERT_EQ(st.size(), 4u);
  EXPECT_EQ(st[0].name(), "16_Transition");
}

TEST(Schedule, ParameterCountsAtFourByFour) {
  ArchitectureSpec a;
  a.latent_size = 8;
  a.channels = 3;
  a.max_filter = 4;
  a.filter_reduction_depth = 20;
  // dense 8*16*4 + 4, conv 9*4*4 + 4, toRGB 4*3 + 3
  EXPECT_EQ(generator_parameter_count(a, 4, false), 8 * 16 * 4 + 4 + 9 * 16 + 4 + 12 + 3);
  // fromRGB 3*4+4, conv 9*5*4+4, dense 64*4+4, dense 4+1
  EXPECT_EQ(discriminator_parameter_count(a, 4, false), 12 + 4 + 180 + 4 + 256 + 4 + 5);
  // A transition adds the old toRGB / fromRGB.
  EXPECT_EQ(generator_parameter_count(a, 8, true) - generator_parameter_count(a, 8, false), 15);
}
