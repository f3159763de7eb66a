// Conformance tests every ContentStore implementation runs. An
// implementation's test instantiates them over its factory:
//
//   INSTANTIATE_TEST_SUITE_P(Local, ContentStoreConformance,
//                            ::testing::Values(MyFactory()));
//
// and links //content/testsuite (alwayslink) with gtest_main.
#ifndef CRADLE_CONTENT_TESTSUITE_TESTSUITE_H_
#define CRADLE_CONTENT_TESTSUITE_TESTSUITE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "content/content.h"

namespace cradle {

struct ContentStoreFactory {
  std::string name;
  // Opens the store kept in `dir` (empty on the first call). Opening it
  // again after dropping the last object is a simulated daemon restart.
  std::function<absl::StatusOr<std::unique_ptr<ContentStore>>(
      const std::string& dir)>
      open;
  // Whether Commit and Update keep labels (else they are Unimplemented).
  bool keeps_labels = false;
  // The file holding the bytes of ingest `ref`, for the tests that damage
  // it while the store is closed (required).
  std::function<std::string(const std::string& dir, const std::string& ref)>
      ingest_data_path;
};

inline void PrintTo(const ContentStoreFactory& f, std::ostream* os) {
  *os << f.name;
}

class ContentStoreConformance
    : public ::testing::TestWithParam<ContentStoreFactory> {
 protected:
  void SetUp() override;
  // Drops the store object and opens the same directory again.
  void Reopen();
  // Writes `data` under `ref` and commits it; returns its digest.
  Digest Put(const std::string& ref, const std::string& data);
  std::string ReadAll(const Digest& d);
  // Writes the first `n` bytes of `blob` under `ref`, drops the writer and
  // the store, and returns the ingest's data file for the test to damage.
  std::string InterruptIngest(const std::string& ref, const std::string& blob,
                              size_t n);
  // Reopened: resumes `ref`, writes the rest of `blob` and commits.
  absl::Status FinishIngest(const std::string& ref, const std::string& blob,
                            int64_t* resumed_at);

  std::string dir_;
  std::unique_ptr<ContentStore> store_;
};

}  // namespace cradle

#endif  // CRADLE_CONTENT_TESTSUITE_TESTSUITE_H_
