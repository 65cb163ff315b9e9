// ${env:NAME} and ${file:PATH} references in the manifest, their errors, and the redaction of the
// values they bring in.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "manifest/manifest.h"

namespace faust {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPassword = "s3cret-Pa55word!";

// A folder of its own holding a manifest and credential files; unset $CREDENTIALS_DIRECTORY
// while it lives, so each test states where relative files are read from.
class SecretReferencesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / ("faust-secrets-" + std::to_string(::getpid()) + "-" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(folder_);
    ::unsetenv("CREDENTIALS_DIRECTORY");
    ::unsetenv("FAUST_TEST_PASSWORD");
  }
  void TearDown() override {
    ::unsetenv("CREDENTIALS_DIRECTORY");
    ::unsetenv("FAUST_TEST_PASSWORD");
    fs::remove_all(folder_);
  }

  fs::path write(const fs::path& name, std::string_view text) {
    const fs::path path = folder_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }

  // A manifest whose kafka: section and plugin config: carry `kafka_value` and `config_value`.
  Result<Manifest> load(std::string_view kafka_value, std::string_view config_value = "plain") {
    const fs::path file = write("app.yaml", std::string("app:\n  id: secrets\n  broker: memory://\n"
                                                        "kafka:\n  sasl.password: ") +
                                                std::string(kafka_value) +
                                                "\nagents:\n  say:\n    library: say\n    config:\n      token: " +
                                                std::string(config_value) + "\n");
    return load_manifest(file);
  }

  fs::path folder_;
};

TEST_F(SecretReferencesTest, EnvironmentVariableGivesTheValue) {
  ::setenv("FAUST_TEST_PASSWORD", std::string(kPassword).c_str(), 1);
  auto manifest = load("${env:FAUST_TEST_PASSWORD}", "${env:FAUST_TEST_PASSWORD}");
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  EXPECT_EQ(manifest->kafka.at("sasl.password"), kPassword);
  EXPECT_EQ(manifest->agents.at(0).config.at("token"), kPassword);
}

TEST_F(SecretReferencesTest, FileGivesItsContentsWithoutTheTrailingNewline) {
  write("secrets/password", std::string(kPassword) + "\n");
  auto manifest = load("${file:secrets/password}");  // relative: the manifest's folder
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  EXPECT_EQ(manifest->kafka.at("sasl.password"), kPassword);

  write("crlf", "line one\nline two\r\n");
  manifest = load("plain", "${file:" + (folder_ / "crlf").string() + "}");  // absolute
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  EXPECT_EQ(manifest->agents.at(0).config.at("token"), "line one\nline two");
}

TEST_F(SecretReferencesTest, RelativeFileIsReadFromTheCredentialsDirectoryWhenSet) {
  write("password", "from-the-manifest-folder");
  write("credentials/password", std::string(kPassword));
  ::setenv("CREDENTIALS_DIRECTORY", (folder_ / "credentials").c_str(), 1);
  auto manifest = load("${file:password}");
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  EXPECT_EQ(manifest->kafka.at("sasl.password"), kPassword);
}

TEST_F(SecretReferencesTest, OtherDollarTextStaysAsWritten) {
  auto manifest = load("\"${password}\"", "\"$${env:X} and ${env:X} inside\"");
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  EXPECT_EQ(manifest->kafka.at("sasl.password"), "${password}");
  EXPECT_EQ(manifest->agents.at(0).config.at("token"), "$${env:X} and ${env:X} inside");
}

TEST_F(SecretReferencesTest, UnsetVariableIsALocatedOneLineError) {
  auto manifest = load("${env:FAUST_TEST_PASSWORD}");
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.error().code, ExitCode::kManifestInvalid);
  EXPECT_EQ(manifest.error().message,
            (folder_ / "app.yaml").string() +
                ":5:18: kafka.sasl.password: ${env:FAUST_TEST_PASSWORD}: environment variable FAUST_TEST_PASSWORD "
                "is not set");
}

TEST_F(SecretReferencesTest, UnreadableFileIsALocatedOneLineError) {
  auto manifest = load("plain", "${file:missing}");
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.error().message, (folder_ / "app.yaml").string() +
                                          ":10:14: agents.say.config.token: ${file:missing}: cannot read " +
                                          (folder_ / "missing").string() + ": No such file or directory");

  fs::create_directories(folder_ / "a-folder");
  manifest = load("${file:a-folder}");
  ASSERT_FALSE(manifest.ok());
  EXPECT_NE(manifest.error().message.find("a-folder: not a regular file"), std::string::npos)
      << manifest.error().message;

  manifest = load("${file:}");
  ASSERT_FALSE(manifest.ok());
  EXPECT_NE(manifest.error().message.find(":5:18: kafka.sasl.password: ${file:}: the file reference names nothing"),
            std::string::npos)
      << manifest.error().message;
}

TEST_F(SecretReferencesTest, ReferencedAndSecretValuesAreKnownAsSecrets) {
  ::setenv("FAUST_TEST_PASSWORD", std::string(kPassword).c_str(), 1);
  auto manifest = load("written-in-plain-text", "${env:FAUST_TEST_PASSWORD}");
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  const std::string text = "user u, password written-in-plain-text, token " + std::string(kPassword);
  EXPECT_EQ(manifest->redact(text), "user u, password [redacted], token [redacted]");
  EXPECT_EQ(manifest->redact("short abc"), "short abc");
}

TEST_F(SecretReferencesTest, ShippedSaslManifestTakesItsPasswordFromTheCredentialsDirectory) {
  const fs::path shipped = fs::path(FAUST_SOURCE_DIR) / "configs/leader-sasl.yaml";
  auto missing = load_manifest(shipped);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("kafka.sasl.password: ${file:kafka-password}: cannot read"), std::string::npos)
      << missing.error().message;

  write("credentials/kafka-password", std::string(kPassword) + "\n");
  ::setenv("CREDENTIALS_DIRECTORY", (folder_ / "credentials").c_str(), 1);
  auto manifest = load_manifest(shipped);
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  EXPECT_EQ(manifest->kafka.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(manifest->kafka.at("sasl.password"), kPassword);
  EXPECT_EQ(manifest->redact("password " + std::string(kPassword)), "password [redacted]");
}

TEST_F(SecretReferencesTest, ErrorAboutAReferencedValueDoesNotShowIt) {
  ::setenv("FAUST_TEST_PASSWORD", std::string(kPassword).c_str(), 1);
  const fs::path file = write("bad.yaml",
                              "app:\n  id: secrets\n  broker: memory://\n  value_serializer: ${env:FAUST_TEST_PASSWORD}\n"
                              "agents:\n  say:\n    library: say\n");
  auto manifest = load_manifest(file);
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.error().message.find(kPassword), std::string::npos) << manifest.error().message;
  EXPECT_NE(manifest.error().message.find("app.value_serializer: unknown value '[redacted]'"), std::string::npos)
      << manifest.error().message;
}

}  // namespace
}  // namespace faust
