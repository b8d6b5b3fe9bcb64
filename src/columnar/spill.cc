#include "columnar/spill.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace pipeline::columnar {
namespace {

constexpr size_t kPage = 4096;
// The file is mapped in segments of this size (or one buffer's, if larger),
// so a table of many batches costs few mappings.
constexpr size_t kSegmentBytes = size_t{1} << 30;

struct FileHandle {
  explicit FileHandle(int f) : fd(f) {}
  ~FileHandle() { ::close(fd); }
  int fd;
};

struct Segment {
  std::shared_ptr<FileHandle> file;
  uint8_t* addr = nullptr;
  size_t len = 0;
  ~Segment() { ::munmap(addr, len); }
};

// The pages of one moved buffer; their disk space is freed with it.
struct Piece {
  std::shared_ptr<Segment> segment;
  off_t offset = 0;
  size_t len = 0;
  ~Piece() {
    // Best effort: a file system without hole punching keeps the space until
    // the file is closed.
    (void)::fallocate(segment->file->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
                      static_cast<off_t>(len));
  }
};

std::string Errno() { return std::strerror(errno); }

}  // namespace

struct SpillFile::State {
  std::string dir;
  std::shared_ptr<FileHandle> file;
  std::mutex mu;
  std::shared_ptr<Segment> current;  // guarded by mu
  size_t used = 0;                   // bytes of `current` handed out; guarded by mu
  off_t end = 0;                     // file offset past the last segment; guarded by mu
  std::atomic<int64_t> written{0};
};

SpillFile::SpillFile(std::shared_ptr<State> state) : state_(std::move(state)) {}
SpillFile::~SpillFile() = default;

std::shared_ptr<SpillFile> SpillFile::Create(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    // File systems without O_TMPFILE: a named file, unlinked at once.
    std::string path = dir + "/.spill-XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) throw FormatError("cannot create a spill file in " + dir + ": " + Errno());
    ::unlink(path.c_str());
  }
  auto state = std::make_shared<State>();
  state->dir = dir;
  state->file = std::make_shared<FileHandle>(fd);
  return std::shared_ptr<SpillFile>(new SpillFile(std::move(state)));
}

int64_t SpillFile::bytes_written() const { return state_->written.load(); }

Buffer SpillFile::Move(const Buffer& buffer) {
  const size_t n = buffer.size();
  if (n < kPage) return buffer.Clone();
  // Whole pages, with the padding the kernels may read past the end.
  const size_t len = (n + kBufferPadding + kPage - 1) / kPage * kPage;
  State& s = *state_;
  std::shared_ptr<Segment> segment;
  off_t offset;
  uint8_t* addr;
  {
    std::lock_guard lock(s.mu);
    if (!s.current || s.used + len > s.current->len) {
      auto fresh = std::make_shared<Segment>();
      fresh->file = s.file;
      fresh->len = std::max(kSegmentBytes, len);
      void* p = ::mmap(nullptr, fresh->len, PROT_READ | PROT_WRITE, MAP_SHARED, s.file->fd, s.end);
      if (p == MAP_FAILED) throw FormatError("cannot map the spill file in " + s.dir + ": " + Errno());
      fresh->addr = static_cast<uint8_t*>(p);
      s.current = std::move(fresh);
      s.used = 0;
      s.end += static_cast<off_t>(s.current->len);
    }
    segment = s.current;
    offset = s.end - static_cast<off_t>(segment->len) + static_cast<off_t>(s.used);
    addr = segment->addr + s.used;
    s.used += len;
  }
  // Written with pwrite, not through the mapping: a full disk is an error
  // here instead of a SIGBUS later. The zero tail fills the last page.
  static const uint8_t kZeros[kPage + kBufferPadding] = {};
  iovec parts[2] = {{const_cast<uint8_t*>(buffer.data()), n}, {const_cast<uint8_t*>(kZeros), len - n}};
  size_t done = 0;
  while (done < len) {
    iovec iov[2];
    int count = 0;
    size_t skip = done;
    for (const iovec& part : parts) {
      if (skip >= part.iov_len) {
        skip -= part.iov_len;
        continue;
      }
      iov[count++] = {static_cast<uint8_t*>(part.iov_base) + skip, part.iov_len - skip};
      skip = 0;
    }
    ssize_t w = ::pwritev(s.file->fd, iov, count, offset + static_cast<off_t>(done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::string why = w < 0 ? Errno() : "nothing written";
      (void)::fallocate(s.file->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, static_cast<off_t>(len));
      throw FormatError("cannot write to the spill file in " + s.dir + ": " + why);
    }
    done += static_cast<size_t>(w);
  }
  s.written += static_cast<int64_t>(len);
  auto piece = std::make_shared<Piece>();
  piece->segment = std::move(segment);
  piece->offset = offset;
  piece->len = len;
  return Buffer::External(std::move(piece), addr, n);
}

ColumnPtr SpillFile::Move(const ColumnPtr& column) {
  if (column->values_buffer().external()) return column;
  return std::make_shared<Column>(column->type(), column->length(), Move(column->values_buffer()),
                                  Move(column->validity_buffer()), Move(column->chars_buffer()));
}

Batch SpillFile::Move(const Batch& batch) {
  Batch out;
  out.num_rows = batch.num_rows;
  for (const ColumnPtr& c : batch.columns) out.columns.push_back(Move(c));
  return out;
}

}  // namespace pipeline::columnar
