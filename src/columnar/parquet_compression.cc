#include "columnar/parquet_compression.h"

#include <snappy.h>
#include <zstd.h>

#include <cstring>
#include <new>

#include "columnar/types.h"

namespace pipeline::columnar::parquet {
namespace {

[[noreturn]] void Corrupt(Codec codec, const std::string& detail) {
  throw FormatError("corrupt " + CodecName(codec) + " page (" + detail + ")");
}

}  // namespace

bool CodecSupported(Codec codec) {
  return codec == Codec::kUncompressed || codec == Codec::kSnappy || codec == Codec::kZstd;
}

PageCompressor::PageCompressor(Codec codec, int level) : codec_(codec), level_(level) {
  if (codec_ == Codec::kZstd) {
    zstd_ = ZSTD_createCCtx();
    if (!zstd_) throw std::bad_alloc();
  }
}

PageCompressor::~PageCompressor() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(zstd_)); }

void PageCompressor::Compress(const uint8_t* src, size_t n, Buffer* out) {
  if (codec_ == Codec::kSnappy) {
    out->Resize(snappy::MaxCompressedLength(n));
    size_t size = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(src), n, reinterpret_cast<char*>(out->data()), &size);
    out->Resize(size);
    return;
  }
  out->Resize(ZSTD_compressBound(n));
  size_t size = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(zstd_), out->data(), out->size(), src, n, level_);
  if (ZSTD_isError(size)) throw FormatError(std::string("zstd compression failed: ") + ZSTD_getErrorName(size));
  out->Resize(size);
}

void Decompress(Codec codec, const uint8_t* src, size_t n, uint8_t* dst, size_t dst_size) {
  if (n == 0 && dst_size == 0 && CodecSupported(codec)) return;
  switch (codec) {
    case Codec::kUncompressed:
      if (n != dst_size) Corrupt(codec, "sizes differ");
      if (n) std::memcpy(dst, src, n);
      return;
    case Codec::kSnappy: {
      size_t size = 0;
      const char* in = reinterpret_cast<const char*>(src);
      if (!snappy::GetUncompressedLength(in, n, &size) || size != dst_size) Corrupt(codec, "bad length");
      if (!snappy::RawUncompress(in, n, reinterpret_cast<char*>(dst))) Corrupt(codec, "bad data");
      return;
    }
    case Codec::kZstd: {
      size_t size = ZSTD_decompress(dst, dst_size, src, n);
      if (ZSTD_isError(size)) Corrupt(codec, ZSTD_getErrorName(size));
      if (size != dst_size) Corrupt(codec, "bad length");
      return;
    }
    default: break;
  }
  throw FormatError("unsupported compression " + CodecName(codec));
}

}  // namespace pipeline::columnar::parquet
