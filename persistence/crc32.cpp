// CRC-32 two ways: carry-less multiplication folds 64 bytes per step where the CPU has PCLMULQDQ
// (nearly every x86-64 since 2010); slicing-by-8 tables do the rest, and the whole job elsewhere.
#include "persistence/crc32.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#  include <immintrin.h>
#  define RAFT_CRC32_CLMUL 1
#endif

namespace raft {

namespace {

using tables = std::array<std::array<uint32_t, 256>, 8>;

tables make_tables() {
  tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t s = 1; s < 8; ++s)
      t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  return t;
}

const tables table = make_tables();

// `reg` is the CRC register (the checksum's complement), as in the loops below.
uint32_t slice_by_8(uint32_t reg, const unsigned char* p, size_t size) {
  while (size >= 8) {
    uint32_t lo;
    uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    lo = __builtin_bswap32(lo);
    hi = __builtin_bswap32(hi);
#endif
    lo ^= reg;
    reg = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF]
          ^ table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF]
          ^ table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size-- > 0)
    reg = table[0][(reg ^ *p++) & 0xFF] ^ (reg >> 8);
  return reg;
}

#ifdef RAFT_CRC32_CLMUL

__attribute__((target("pclmul"))) inline __m128i load(const unsigned char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// acc times the two halves of k, plus next: one fold step.
__attribute__((target("pclmul"))) inline __m128i fold_into(__m128i acc, __m128i k, __m128i next) {
  auto lo = _mm_clmulepi64_si128(acc, k, 0x00);
  auto hi = _mm_clmulepi64_si128(acc, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(hi, lo), next);
}

// Folding as in Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" (2009),
// bit-reflected, with the paper's constants (powers of x modulo P). Four 128-bit lanes each absorb
// the lane 64 bytes further on, then fold into one lane, then 128 -> 64 -> 32 bits, the last step
// by Barrett reduction. Takes a multiple of 16 bytes, at least 64.
__attribute__((target("pclmul,sse4.1"))) uint32_t fold(uint32_t reg, const unsigned char* p,
                                                       size_t size) {
  const __m128i by_64 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i by_16 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i to_32 = _mm_set_epi64x(0, 0x0163cd6124);
  const __m128i barrett = _mm_set_epi64x(0x01f7011641, 0x01db710641);  // u', P'
  const __m128i low_32 = _mm_setr_epi32(~0, 0, ~0, 0);
  auto x1 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(reg)));
  auto x2 = load(p + 16);
  auto x3 = load(p + 32);
  auto x4 = load(p + 48);
  p += 64;
  size -= 64;
  for (; size >= 64; p += 64, size -= 64) {
    x1 = fold_into(x1, by_64, load(p));
    x2 = fold_into(x2, by_64, load(p + 16));
    x3 = fold_into(x3, by_64, load(p + 32));
    x4 = fold_into(x4, by_64, load(p + 48));
  }
  x1 = fold_into(x1, by_16, x2);
  x1 = fold_into(x1, by_16, x3);
  x1 = fold_into(x1, by_16, x4);
  for (; size >= 16; p += 16, size -= 16)
    x1 = fold_into(x1, by_16, load(p));
  // 128 -> 64 bits.
  auto x2b = _mm_clmulepi64_si128(x1, by_16, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2b);
  // 64 -> 32 bits.
  auto hi32 = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, low_32), to_32, 0x00), hi32);
  // Barrett reduction to the 32-bit remainder.
  auto t = _mm_clmulepi64_si128(_mm_and_si128(x1, low_32), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low_32), barrett, 0x00);
  x1 = _mm_xor_si128(x1, t);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

// Runs among the static constructors, hence the explicit init.
const bool has_clmul = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}();

#endif

} // namespace

uint32_t crc32(uint32_t crc, const void* data, size_t size) {
  auto p = static_cast<const unsigned char*>(data);
  uint32_t reg = ~crc;
#ifdef RAFT_CRC32_CLMUL
  if (has_clmul && size >= 64) {
    auto n = size & ~size_t{15};
    reg = fold(reg, p, n);
    p += n;
    size -= n;
  }
#endif
  return ~slice_by_8(reg, p, size);
}

uint32_t detail::crc32_tables(uint32_t crc, const void* data, size_t size) {
  return ~slice_by_8(~crc, static_cast<const unsigned char*>(data), size);
}

} // namespace raft
