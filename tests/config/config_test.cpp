#include <gtest/gtest.h>

#include <tuple>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "deepzine/config/config.h"
#include "deepzine/util/error.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using deepzine::config::Config;
using deepzine::config::load_config;
using deepzine::config::Override;
using deepzine::util::ConfigError;

namespace {
fs::path fixtures() {
  const char* f = std::getenv("DEEPZINE_FIXTURES");
  return f ? fs::path(f) : fs::path("../shared/fixtures");
}

class ConfigFile : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directories(dir_);
  }
  fs::path write(const std::string& text) {
    fs::path p = dir_ / "config.yaml";
    std::ofstream(p) << text;
    return p;
  }
  // The message of the ConfigError that loading `text` raises.
  std::string error_of(const std::string& text, std::vector<Override> overrides = {}) {
    try {
      load_config(write(text), overrides);
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return "";
  }
  deepzine::testing_support::TempDir tmp_{"deepzine_config"};  // tests/support/temp_dir.h
  fs::path dir_;
};
}  // namespace

TEST(OriginalConfigs, LoadUnchangedWithOriginalMeaning) {
  setenv("HOME", "/home/reader", 1);
  Config c = load_config(fixtures() / "original_config" / "config.yaml");
  EXPECT_TRUE(c.gpu_num.empty());  // the string None means "no choice"
  EXPECT_TRUE(c.load_data);
  EXPECT_TRUE(c.train);
  EXPECT_TRUE(c.overwrite);
  EXPECT_EQ(*c.pdf_directory, fs::path("/home/reader/pdf_directory"));
  EXPECT_EQ(*c.data_hdf5, fs::path("/home/reader/data.hdf5"));
  EXPECT_EQ(c.log_dir, fs::path("/home/reader/models"));
  EXPECT_EQ(c.internetarchive_collection, "MBLWHOI");
  EXPECT_EQ(*c.pdf_num, 10000);
  EXPECT_EQ(c.data_output_size, 1024);
  EXPECT_EQ(c.gan_output_size, 128);
  EXPECT_DOUBLE_EQ(c.learning_rate, 0.0001);  // honoured as given (the train stage warns)
  EXPECT_FALSE(c.channels.has_value());        // the original's files leave channels to the pages
  EXPECT_EQ(c.filter_num_reduction_transition_size, 64);
  EXPECT_EQ(c.batch_size_reduction_transition_size, 256);
  EXPECT_EQ(c.interpolation_method, "slerp");
  // Hidden keys keep the original's defaults.
  EXPECT_TRUE(c.download_pdf);
  EXPECT_TRUE(c.convert_pdf);
  EXPECT_EQ(c.gan_starting_size, 4);
  EXPECT_EQ(c.inference_batch_size, 16);
  EXPECT_EQ(c.inference_output_format, "png");
  EXPECT_FALSE(c.random_seed.has_value());

  Config p = load_config(fixtures() / "original_config" / "config_preloaded.yaml");
  ASSERT_EQ(p.gpu_num.size(), 1u);
  EXPECT_EQ(p.gpu_num[0], 1);
  EXPECT_TRUE(p.pretrained_model);
  EXPECT_EQ(p.gan_output_size, 1024);
  EXPECT_EQ(*p.inference_model_directory, fs::path("./pretrained_models"));
  EXPECT_FALSE(p.load_data);
  EXPECT_TRUE(p.interpolation);
}

TEST_F(ConfigFile, EmptyFileGivesTheOriginalDefaults) {
  Config c = load_config(write(""));
  EXPECT_EQ(c.batch_size, 16);
  EXPECT_EQ(c.log_dir, fs::path("./log"));
  EXPECT_EQ(c.samples_dir, fs::path("./samples"));
  EXPECT_EQ(c.batch_size_reduction_transition_size, 128);
  EXPECT_EQ(c.iterations_per_stage, 10000);
  EXPECT_FALSE(c.train);
}

TEST_F(ConfigFile, UnknownKeyNamesFileLineAndClosestKey) {
  std::string msg = error_of("train: False\nlearning_rte: 0.001\n");
  EXPECT_NE(msg.find("config.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'learning_rte'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean learning_rate?"), std::string::npos) << msg;
}

// A list or a map where a key belongs (fuzz_config found the first: it ended the process with
// yaml-cpp's "bad conversion"): a config error naming the line.
TEST_F(ConfigFile, AListOrMapAsAKeyIsAConfigError) {
  const std::string msg = error_of("train: False\n[a, b]: 1\n{x: y}: 2\n");
  EXPECT_NE(msg.find("config.yaml:2: key '(a list or map)': is not a key name"), std::string::npos) << msg;
  EXPECT_NE(msg.find("config.yaml:3: key '(a list or map)'"), std::string::npos) << msg;
}

// Found by fuzz_config (session 10): a depth out of range was still turned into a size (1 << 62, past
// an int: undefined), which added a bogus "gan_output_size 1073741824 is larger than data_output_size".
TEST_F(ConfigFile, DepthsOutOfRangeGiveOnlyTheirOwnProblem) {
  const std::string msg = error_of("load_data: True\ntrain: True\ndownload_pdf: False\npdf_directory: pdfs\n"
                                   "data_hdf5: pages.h5\nprogressive_depth: 61\nstarting_depth: 40\n");
  EXPECT_NE(msg.find("config.yaml:6: key 'progressive_depth': 61 is out of range (allowed: 1 to 13"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("config.yaml:7: key 'starting_depth': 40 is out of range"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(2 problems)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("larger than"), std::string::npos) << msg;
}

// A damaged file with thousands of unknown, huge keys: a bounded message that still names the first
// ones by file and line, the key cut to its start, and the count of the rest; typos still get a hint.
TEST_F(ConfigFile, ManyHugeUnknownKeysGiveABoundedMessage) {
  std::string text = "learnin_rate: 0.001\n";
  // Explicit keys ("? KEY"): YAML allows implicit ones only up to 1024 characters.
  for (int i = 0; i < 2000; ++i) text += "? k" + std::to_string(i) + std::string(5000, 'x') + "\n: 1\n";
  const std::string msg = error_of(text);
  EXPECT_NE(msg.find("config.yaml:1: key 'learnin_rate': unknown key (did you mean learning_rate?)"),
            std::string::npos) << msg.substr(0, 400);
  EXPECT_NE(msg.find("config.yaml:2: key 'k0xxx"), std::string::npos) << msg.substr(0, 400);
  EXPECT_NE(msg.find("... and 1951 more"), std::string::npos) << msg.substr(msg.size() > 200 ? msg.size() - 200 : 0);
  EXPECT_LT(msg.size(), 20000u);  // 50 problems of at most ~120 characters each
  EXPECT_EQ(msg.find(std::string(100, 'x')), std::string::npos);
}

TEST_F(ConfigFile, WrongTypeNamesKeyLineAndWhatIsAllowed) {
  std::string msg = error_of("batch_size: sixteen\n");
  EXPECT_NE(msg.find("config.yaml:1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'batch_size'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected a whole number, got 'sixteen'"), std::string::npos) << msg;

  msg = error_of("train: maybe\n");
  EXPECT_NE(msg.find("expected True or False, got 'maybe'"), std::string::npos) << msg;
}

TEST_F(ConfigFile, OutOfRangeAndChoiceErrors) {
  std::string msg = error_of("\n\nbatch_size: 0\n");
  EXPECT_NE(msg.find("config.yaml:3: key 'batch_size': 0 is out of range (allowed: 1 to 65536)"),
            std::string::npos)
      << msg;
  msg = error_of("interpolation_method: spiral\n");
  EXPECT_NE(msg.find("'spiral' is not one of the allowed values: slerp, linear, tozero"), std::string::npos) << msg;
  msg = error_of("channels: 2\n");
  EXPECT_NE(msg.find("2 is not allowed (allowed: 1, 3 or None)"), std::string::npos) << msg;
  msg = error_of("augment: translation,flip\n");
  EXPECT_NE(msg.find("'flip' is not an augmentation"), std::string::npos) << msg;
  msg = error_of("ema_rampup: 2\n");
  EXPECT_NE(msg.find("ema_rampup"), std::string::npos) << msg;
  msg = error_of("augment_probability: 1.5\n");
  EXPECT_NE(msg.find("key 'augment_probability': 1.5 is out of range (allowed: 0 to 1)"), std::string::npos) << msg;
  msg = error_of("ema_beta: 1\n");
  EXPECT_NE(msg.find("ema_beta"), std::string::npos) << msg;
  msg = error_of("page_fit: squash\n");
  EXPECT_NE(msg.find("stretch, pad, crop"), std::string::npos) << msg;
}

TEST_F(ConfigFile, SizesMustBePowersOfTwo) {
  std::string msg = error_of("gan_output_size: 100\n");
  EXPECT_NE(msg.find("config.yaml:1: key 'gan_output_size': 100 is not allowed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("powers of two"), std::string::npos) << msg;
  msg = error_of("data_output_size: 2\n");
  EXPECT_NE(msg.find("'data_output_size': 2 is not allowed"), std::string::npos) << msg;
}

TEST_F(ConfigFile, GanLargerThanFreshDataIsAnError) {
  std::string msg = error_of(
      "load_data: True\ntrain: True\ndata_hdf5: d.h5\npdf_directory: p\ndata_output_size: 64\n"
      "gan_output_size: 128\n");
  EXPECT_NE(msg.find("config.yaml:6: key 'gan_output_size': 128 is larger than data_output_size 64"),
            std::string::npos)
      << msg;
  // Without a fresh load the data file decides (checked by the train stage).
  EXPECT_NO_THROW(load_config(write("train: True\ndata_hdf5: d.h5\ndata_output_size: 64\ngan_output_size: 128\n")));
}

TEST_F(ConfigFile, MalformedYamlNamesTheLine) {
  std::string msg = error_of("train: True\nbatch_size: [1, 2\nlatent_size: 4\n");
  EXPECT_NE(msg.find("config.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed YAML"), std::string::npos) << msg;
  msg = error_of("- just\n- a list\n");
  EXPECT_NE(msg.find("must be a map"), std::string::npos) << msg;
}

TEST_F(ConfigFile, UnreadableFile) {
  try {
    load_config(dir_ / "nope.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.yaml (no such file)"), std::string::npos) << e.what();
  }
  // A FIFO (or a device) named as the config is refused at once, not waited on.
  ASSERT_EQ(::mkfifo((dir_ / "fifo.yaml").c_str(), 0600), 0);
  for (const fs::path& file : {dir_ / "fifo.yaml", fs::path("/dev/zero")}) {
    try {
      load_config(file);
      ADD_FAILURE() << file;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
    }
  }
}

// A bad value given with --set is reported as that --set, not as a line of the file (where the key
// may be on another line, or absent).
TEST_F(ConfigFile, SetProblemsNameTheSetNotALine) {
  const fs::path file = write("train: False\nlatent_size: 16\n");
  for (const auto& [key, value, expected] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"latent_size", "-1", "--set latent_size=-1: key 'latent_size': -1 is out of range"},
           {"batch_size", "abc", "--set batch_size=abc: key 'batch_size': expected a whole number"}}) {
    try {
      load_config(file, {{key, value}});
      ADD_FAILURE() << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("config.yaml:"), std::string::npos) << e.what();
    }
  }
}

TEST_F(ConfigFile, ReportsEveryProblemAtOnce) {
  std::string msg = error_of("batch_size: x\nlatent_size: y\nfoo: 1\n");
  EXPECT_NE(msg.find("3 problems"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'batch_size'"), std::string::npos);
  EXPECT_NE(msg.find("'latent_size'"), std::string::npos);
  EXPECT_NE(msg.find("'foo'"), std::string::npos);
}

TEST_F(ConfigFile, OverridesAreYamlTyped) {
  Config c = load_config(write("train: True\ndata_hdf5: d.h5\n"),
                         {{"learning_rate", "2e-4"}, {"train", "false"}, {"gpu_num", "[0, 1]"},
                          {"pdf_num", "None"}, {"random_seed", "7"}});
  EXPECT_DOUBLE_EQ(c.learning_rate, 2e-4);
  EXPECT_FALSE(c.train);
  EXPECT_EQ(c.gpu_num, (std::vector<int>{0, 1}));
  EXPECT_FALSE(c.pdf_num.has_value());
  EXPECT_EQ(*c.random_seed, 7);

  std::string msg = error_of("", {{"learnin_rate", "1"}});
  EXPECT_NE(msg.find("--set learnin_rate: unknown key (did you mean learning_rate?)"), std::string::npos) << msg;
  msg = error_of("", {{"batch_size", "big"}});
  EXPECT_NE(msg.find("'batch_size': expected a whole number, got 'big'"), std::string::npos) << msg;
}

TEST_F(ConfigFile, StagesNeedTheirPaths) {
  std::string msg = error_of("train: True\n");
  EXPECT_NE(msg.find("key 'data_hdf5' must be set to run train"), std::string::npos) << msg;
  msg = error_of("inference: True\ninference_output_directory: out\n");
  EXPECT_NE(msg.find("'inference_model_path' or 'inference_model_directory' must be set"), std::string::npos) << msg;
}

TEST_F(ConfigFile, FiltersMustNotVanish) {
  std::string msg = error_of("gan_output_size: 1024\nmax_filter: 8\nfilter_num_reduction_transition_size: 8\n");
  EXPECT_NE(msg.find("leaves no filters at 1024x1024"), std::string::npos) << msg;
}

TEST(Keys, EveryKeyIsDocumentedInConfigYamlAndNewOnesInReadme) {
  const char* src = std::getenv("DEEPZINE_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  std::ifstream yaml(fs::path(src) / "config.yaml"), readme(fs::path(src) / "README.md");
  std::string y((std::istreambuf_iterator<char>(yaml)), {}), r((std::istreambuf_iterator<char>(readme)), {});
  for (const auto& k : deepzine::config::all_keys()) {
    EXPECT_NE(y.find("\n" + k.name + ":"), std::string::npos) << k.name << " missing from config.yaml";
    EXPECT_FALSE(k.doc.empty()) << k.name;
    if (k.added_by_deepzine_cpp) {
      EXPECT_NE(r.find("`" + k.name + "`"), std::string::npos) << k.name << " not in README";
    }
  }
  // config.yaml itself is a valid config.
  EXPECT_NO_THROW(load_config(fs::path(src) / "config.yaml"));
}
