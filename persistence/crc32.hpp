// CRC-32 (IEEE 802.3, as zlib and gzip compute it) for log records, snapshot files and chunks;
// incremental, so a snapshot of any size is checked while it streams.
#pragma once

#include <cstddef>
#include <cstdint>

namespace raft {

/// Extends `crc` (0 to start) with `size` bytes at `data`.
uint32_t crc32(uint32_t crc, const void* data, size_t size);

namespace detail {

/// The same with lookup tables only, as on CPUs without carry-less multiplication; for tests.
uint32_t crc32_tables(uint32_t crc, const void* data, size_t size);

} // namespace detail

} // namespace raft
