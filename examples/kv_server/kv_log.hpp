// The file store's on-disk log format: a file header, then framed records, each written with one
// system call, so that replay can tell a complete record from a torn or corrupt one.
//
//   file   := "CTKVLOG1" record*
//   record := u32 length | u32 crc32c(payload) | payload        (little-endian, 8-byte frame)
//   payload:= 'S' | u16 key_length | key | value                (set)
//           | 'D' | u16 key_length | key                        (delete)
//           | 'C' | u16 0                                       (clear: FLUSHDB)
//
// See docs/execution.md ("The log file") for how replay treats torn and corrupt records.
#pragma once

#include "kv_protocol.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kv::log {

inline constexpr std::string_view file_magic = "CTKVLOG1";
inline constexpr std::size_t frame_bytes = 8;
/// The largest payload a valid record can have: a set of the longest key and value.
inline constexpr std::size_t max_payload = 1 + 2 + max_key + max_value;

namespace detail {
constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1U) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1; // Castagnoli, reflected
        }
        t[i] = c;
    }
    return t;
}
inline constexpr std::array<std::uint32_t, 256> crc32c_table = make_crc32c_table();
} // namespace detail

/// CRC-32C (Castagnoli), the checksum of iSCSI, ext4 metadata and LevelDB's log.
constexpr std::uint32_t crc32c(std::string_view data) noexcept {
    std::uint32_t c = 0xFFFFFFFFU;
    for (char ch : data) {
        c = detail::crc32c_table[(c ^ static_cast<unsigned char>(ch)) & 0xFFU] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFU;
}

inline void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out += static_cast<char>((v >> (8 * i)) & 0xFFU);
    }
}

constexpr std::uint32_t get_u32(const char* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) {
        v = (v << 8) | static_cast<unsigned char>(p[i]);
    }
    return v;
}

/// Size on disk of a set (`value` given) or delete record for `key`.
constexpr std::size_t record_size(std::size_t key_size, std::size_t value_size) noexcept {
    return frame_bytes + 3 + key_size + value_size;
}

/// Appends a framed set record ('S'), delete record ('D', `value` empty) or clear record ('C',
/// `key` and `value` empty) to `out`.
inline void append_record(std::string& out, char type, std::string_view key,
                          std::string_view value) {
    std::string payload;
    payload.reserve(3 + key.size() + value.size());
    payload += type;
    payload += static_cast<char>(key.size() & 0xFFU);
    payload += static_cast<char>((key.size() >> 8) & 0xFFU);
    payload += key;
    payload += value;
    put_u32(out, static_cast<std::uint32_t>(payload.size()));
    put_u32(out, crc32c(payload));
    out += payload;
}

/// What scanning one record found.
enum class scan_status {
    ok,        ///< a complete, valid record
    torn,      ///< the bytes end before the record does (an interrupted append)
    bad_crc,   ///< complete, but the checksum does not match
    bad_frame, ///< the length is impossible for any record
    bad_body,  ///< checksum fine, but the content breaks the format or the protocol's rules
};

/// A decoded record (views into the scanned bytes).
struct record {
    char type = 0;
    std::string_view key;
    std::string_view value;
    std::size_t size = 0; ///< bytes on disk, frame included
};

/// Decodes the record at the start of `bytes`.
inline scan_status scan(std::string_view bytes, record& r) noexcept {
    if (bytes.size() < frame_bytes) {
        return scan_status::torn;
    }
    const std::uint32_t len = get_u32(bytes.data());
    if (len < 3 || len > max_payload) {
        return scan_status::bad_frame;
    }
    if (bytes.size() - frame_bytes < len) {
        return scan_status::torn;
    }
    const std::string_view payload = bytes.substr(frame_bytes, len);
    if (crc32c(payload) != get_u32(bytes.data() + 4)) {
        return scan_status::bad_crc;
    }
    r.type = payload[0];
    const std::size_t klen =
        static_cast<unsigned char>(payload[1]) |
        (static_cast<std::size_t>(static_cast<unsigned char>(payload[2])) << 8);
    if (klen > payload.size() - 3) {
        return scan_status::bad_body;
    }
    r.key = payload.substr(3, klen);
    r.value = payload.substr(3 + klen);
    r.size = frame_bytes + len;
    if (!valid_key(r.key) || (r.type == 'S' && !valid_value(r.value)) ||
        (r.type == 'D' && !r.value.empty()) ||
        (r.type == 'C' && (!r.key.empty() || !r.value.empty())) ||
        (r.type != 'S' && r.type != 'D' && r.type != 'C')) {
        return scan_status::bad_body;
    }
    return scan_status::ok;
}

inline const char* describe(scan_status s) noexcept {
    switch (s) {
    case scan_status::ok:
        return "ok";
    case scan_status::torn:
        return "incomplete record";
    case scan_status::bad_crc:
        return "checksum mismatch";
    case scan_status::bad_frame:
        return "impossible record length";
    case scan_status::bad_body:
        return "invalid record content";
    }
    return "?";
}

} // namespace kv::log
