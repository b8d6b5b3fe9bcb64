// Encodes one column chunk of the Parquet writer into pages in memory:
// optional dictionary page, then data pages (v1) of about kPageBytes each,
// compressed, with headers. Used by parquet_writer.cc, one encoder per thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "columnar/buffer.h"
#include "columnar/parquet_compression.h"
#include "columnar/parquet_dictionary.h"
#include "columnar/parquet_format.h"
#include "columnar/types.h"

namespace pipeline::columnar::parquet {

// Uncompressed bytes a data page aims for.
inline constexpr int64_t kPageBytes = int64_t{1} << 20;

struct EncodedChunk {
  Buffer bytes;                  // the pages, headers included
  int64_t dictionary_bytes = 0;  // leading bytes that hold the dictionary page (0: none)
  int64_t uncompressed_size = 0;
  int64_t num_values = 0;
  std::vector<Encoding> encodings;
  Statistics statistics;
};

// Not thread-safe: scratch buffers and the compressor are reused between
// chunks. Throws FormatError when a value cannot fit a page (> 2 GiB).
class ChunkEncoder {
 public:
  ChunkEncoder(Codec codec, int zstd_level, bool dictionary);

  EncodedChunk Encode(DataType type, const std::vector<ColumnSlice>& slices);

 private:
  template <class T>
  void EncodeFixed(const std::vector<ColumnSlice>& slices, int64_t valid, EncodedChunk* chunk);
  void EncodeBool(const std::vector<ColumnSlice>& slices, int64_t valid, EncodedChunk* chunk);
  void EncodeString(const std::vector<ColumnSlice>& slices, int64_t valid, EncodedChunk* chunk);
  template <class T>
  void WritePlainPages(const std::vector<ColumnSlice>& slices, EncodedChunk* chunk);
  void WritePlainStringPages(const std::vector<ColumnSlice>& slices, EncodedChunk* chunk);
  void WriteIndexPages(const std::vector<ColumnSlice>& slices, size_t dictionary_size, EncodedChunk* chunk);

  // Starts body_ with the page's definition levels (length-prefixed) and
  // room for `value_bytes` more; returns where the values go.
  uint8_t* BeginDataPage(const ColumnSlice& slice, int64_t offset, int64_t n, size_t value_bytes);
  // Compresses body_[0, body_size) and appends header and page to the chunk.
  void EmitPage(PageType type, size_t body_size, int32_t num_values, Encoding encoding, EncodedChunk* chunk);

  PageCompressor compressor_;
  bool dictionary_;
  Buffer body_;
  Buffer compressed_;
  std::string header_;
  std::vector<uint32_t> indices_;
  Dictionary64 dictionary64_;
  StringDictionary string_dictionary_;
};

}  // namespace pipeline::columnar::parquet
