// Runs the metadata garbage collector over the content store and the
// snapshotter: after an image is removed, and at start-up (leftovers of a
// crashed pull once its lease has run out).
#ifndef CRADLE_IMAGES_GARBAGE_H_
#define CRADLE_IMAGES_GARBAGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "content/content.h"
#include "metadata/gc.h"
#include "metadata/metadata.h"
#include "snapshots/snapshotter.h"

namespace cradle {

// Thread-safe: collections run one at a time.
class ImageGarbageCollector {
 public:
  // `snapshotter_name` is how GC references name it ("overlayfs").
  ImageGarbageCollector(MetadataStore* metadata, ContentStore* content,
                        Snapshotter* snapshotter, std::string snapshotter_name)
      : metadata_(metadata),
        content_(content),
        snapshotter_(snapshotter),
        snapshotter_name_(std::move(snapshotter_name)) {}

  absl::StatusOr<GcReport> Collect();

 private:
  MetadataStore* metadata_;
  ContentStore* content_;
  Snapshotter* snapshotter_;
  std::string snapshotter_name_;
  absl::Mutex mu_;
};

}  // namespace cradle

#endif  // CRADLE_IMAGES_GARBAGE_H_
