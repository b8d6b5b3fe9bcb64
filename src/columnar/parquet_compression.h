// Page compression for the Parquet reader and writer: SNAPPY (raw block
// format), ZSTD and UNCOMPRESSED. Other codecs are reported as unsupported.
#pragma once

#include <cstddef>
#include <cstdint>

#include "columnar/buffer.h"
#include "columnar/parquet_format.h"

namespace pipeline::columnar::parquet {

bool CodecSupported(Codec codec);

// Compresses pages with one codec; keeps a ZSTD context between calls. Not
// thread-safe: one per thread.
class PageCompressor {
 public:
  // `level` is ZSTD's compression level (ignored by the other codecs).
  PageCompressor(Codec codec, int level);
  ~PageCompressor();
  PageCompressor(const PageCompressor&) = delete;
  PageCompressor& operator=(const PageCompressor&) = delete;

  Codec codec() const { return codec_; }
  // Replaces *out's contents with the compressed bytes of src[0, n).
  // Not for UNCOMPRESSED (callers use the bytes as they are).
  void Compress(const uint8_t* src, size_t n, Buffer* out);

 private:
  Codec codec_;
  int level_;
  void* zstd_ = nullptr;  // ZSTD_CCtx*
};

// Decompresses src[0, n) into exactly dst_size bytes at dst. Throws
// columnar::FormatError when the codec is unsupported, the data is corrupt or
// its decompressed size differs from dst_size.
void Decompress(Codec codec, const uint8_t* src, size_t n, uint8_t* dst, size_t dst_size);

}  // namespace pipeline::columnar::parquet
