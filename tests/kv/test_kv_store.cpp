// The file store's log (examples/kv_server/kv_log.hpp, kv_storage.hpp): framed records, torn
// tails truncated on open, corrupt records refused with their offset (or kept out by --repair),
// compaction that survives a kill -9 after each of its steps. In process; the kill tests fork.
#include "kv_log.hpp"
#include "kv_storage.hpp"

#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

struct temp_log {
    fs::path path;
    explicit temp_log(const std::string& name) {
        path = fs::temp_directory_path() /
               ("cotrait_kv_store_" + std::to_string(::getpid()) + "_" + name + ".log");
        clean();
    }
    ~temp_log() { clean(); }
    temp_log(const temp_log&) = delete;
    temp_log& operator=(const temp_log&) = delete;
    void clean() const {
        std::error_code ec;
        fs::remove(path, ec);
        fs::remove(path.string() + ".dropped", ec);
        fs::remove(kv::file_store::compaction_path(path.string()), ec);
    }
    [[nodiscard]] std::string str() const { return path.string(); }
    [[nodiscard]] std::string bytes() const {
        std::ifstream in(path, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    void write(const std::string& b) const {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << b;
    }
};

// Options that collect the store's diagnostics instead of printing them.
kv::file_options quiet(std::vector<std::string>& lines) {
    kv::file_options o;
    o.log = [&lines](const std::string& l) { lines.push_back(l); };
    return o;
}

void set(kv::file_store& s, const std::string& k, const std::string& v) {
    cotrait::sync_wait(s.set(k, v));
}

bool contains(const std::vector<std::string>& lines, const std::string& what) {
    for (const std::string& l : lines) {
        if (l.find(what) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// The message of the exception opening `path` throws, or "" if it opens.
std::string open_error(const std::string& path, std::vector<std::string>& lines) {
    try {
        kv::file_store s(path, quiet(lines));
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("crc32c matches the standard check value") {
    CHECK(kv::log::crc32c("123456789") == 0xE3069283U);
    CHECK(kv::log::crc32c("") == 0U);
}

TEST_CASE("records round-trip, and the file is exactly header plus framed records") {
    temp_log t("roundtrip");
    std::vector<std::string> lines;
    {
        kv::file_store s(t.str(), quiet(lines));
        set(s, "a", "alpha");
        set(s, "b", "");
        CHECK(cotrait::sync_wait(s.erase("a")));
        CHECK_FALSE(cotrait::sync_wait(s.erase("zz"))); // nothing logged for a miss
    }
    CHECK(t.bytes().size() ==
          8 + kv::log::record_size(1, 5) + kv::log::record_size(1, 0) + kv::log::record_size(1, 0));
    kv::file_store s(t.str(), quiet(lines));
    CHECK(s.snapshot() == std::map<std::string, std::string>{{"b", ""}});
    CHECK(lines.empty());
}

TEST_CASE("a torn last record is truncated away on open, logged, and the next write survives") {
    temp_log t("torn");
    std::vector<std::string> lines;
    std::size_t good = 0;
    {
        kv::file_store s(t.str(), quiet(lines));
        set(s, "a", "first");
        set(s, "b", "old");
        good = s.file_bytes();
        set(s, "b", "delta");
    }
    const std::string full = t.bytes();
    // Cut 3 bytes off the end (the case), cut inside the frame, cut after the frame only.
    for (std::size_t cut : {std::size_t{3}, full.size() - good - 4, full.size() - good - 8}) {
        INFO("cut " << cut << " bytes");
        t.write(full.substr(0, full.size() - cut));
        lines.clear();
        {
            kv::file_store s(t.str(), quiet(lines));
            CHECK(s.snapshot() == std::map<std::string, std::string>{{"a", "first"}, {"b", "old"}});
            CHECK(contains(lines, "torn record at offset " + std::to_string(good)));
            CHECK(s.file_bytes() == good);
            set(s, "c", "after");
        }
        lines.clear();
        kv::file_store s(t.str(), quiet(lines));
        CHECK(s.snapshot() ==
              std::map<std::string, std::string>{{"a", "first"}, {"b", "old"}, {"c", "after"}});
        CHECK(lines.empty());
    }
}

TEST_CASE("a torn delete record does not delete anything") {
    temp_log t("torn_delete");
    std::vector<std::string> lines;
    {
        kv::file_store s(t.str(), quiet(lines));
        set(s, "a", "1");
        set(s, "b", "2");
        CHECK(cotrait::sync_wait(s.erase("a")));
    }
    const std::string full = t.bytes();
    t.write(full.substr(0, full.size() - 2));
    kv::file_store s(t.str(), quiet(lines));
    CHECK(s.snapshot() == std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}});
}

TEST_CASE("a torn or foreign file header") {
    temp_log t("header");
    std::vector<std::string> lines;
    t.write("CTK");
    {
        kv::file_store s(t.str(), quiet(lines));
        CHECK(s.snapshot().empty());
        CHECK(contains(lines, "torn file header"));
        set(s, "k", "v");
    }
    {
        kv::file_store s(t.str(), quiet(lines));
        CHECK(s.snapshot() == std::map<std::string, std::string>{{"k", "v"}});
    }
    t.write("S a 1\nS b 2\n"); // the old line format, or any other file
    CHECK(open_error(t.str(), lines).find("is not a kv log") != std::string::npos);
}

TEST_CASE("a corrupt record before the last is a startup error naming its offset") {
    temp_log t("corrupt");
    std::vector<std::string> lines;
    std::size_t second = 0;
    std::size_t third = 0;
    {
        kv::file_store s(t.str(), quiet(lines));
        set(s, "a", "value-a");
        second = s.file_bytes();
        set(s, "b", "value-b");
        third = s.file_bytes();
        set(s, "c", "value-c");
    }
    const std::string full = t.bytes();
    const std::string where = "corrupt record at offset " + std::to_string(second);

    SECTION("a flipped byte in a value (what merged two records in the line format)") {
        std::string b = full;
        b[third - 2] = static_cast<char>(b[third - 2] ^ 0x20);
        t.write(b);
        const std::string err = open_error(t.str(), lines);
        CHECK(err.find(where) != std::string::npos);
        CHECK(err.find("checksum mismatch") != std::string::npos);
        CHECK(err.find("--repair") != std::string::npos);
    }
    SECTION("an impossible length, even in the last record, is not a torn tail") {
        std::string b = full;
        b[second + 3] = '\x7f';
        t.write(b);
        CHECK(open_error(t.str(), lines).find("impossible record length") != std::string::npos);
        b = full;
        b[third + 3] = '\x7f';
        t.write(b);
        CHECK(
            open_error(t.str(), lines).find("corrupt record at offset " + std::to_string(third)) !=
            std::string::npos);
    }
    SECTION("a well-checksummed record with a key the protocol forbids") {
        std::string b = full.substr(0, second);
        kv::log::append_record(b, 'S', std::string(kv::max_key + 1, 'k'), "v"); // key too long
        b += full.substr(second);
        t.write(b);
        CHECK(open_error(t.str(), lines).find("invalid record content") != std::string::npos);
        b = full.substr(0, second);
        kv::log::append_record(b, 'X', "k", "v"); // unknown type
        b += full.substr(second);
        t.write(b);
        CHECK(open_error(t.str(), lines).find(where) != std::string::npos);
    }
    SECTION("a checksum mismatch in the very last record is a torn tail") {
        std::string b = full;
        b.back() = static_cast<char>(b.back() ^ 1);
        t.write(b);
        kv::file_store s(t.str(), quiet(lines));
        CHECK(s.snapshot() ==
              std::map<std::string, std::string>{{"a", "value-a"}, {"b", "value-b"}});
        CHECK(contains(lines, "torn record at offset " + std::to_string(third)));
    }
    SECTION("--repair keeps the valid prefix and saves the rest") {
        std::string b = full;
        b[third - 2] = static_cast<char>(b[third - 2] ^ 0x20);
        t.write(b);
        kv::file_options o = quiet(lines);
        o.repair = true;
        {
            kv::file_store s(t.str(), o);
            CHECK(s.snapshot() == std::map<std::string, std::string>{{"a", "value-a"}});
            CHECK(contains(lines, "--repair: " + where));
            set(s, "d", "after repair");
        }
        std::ifstream dropped(t.str() + ".dropped", std::ios::binary);
        const std::string rest{std::istreambuf_iterator<char>(dropped),
                               std::istreambuf_iterator<char>()};
        CHECK(rest == b.substr(second));
        lines.clear();
        kv::file_store s(t.str(), quiet(lines)); // opens without --repair now
        CHECK(s.snapshot() ==
              std::map<std::string, std::string>{{"a", "value-a"}, {"d", "after repair"}});
        CHECK(lines.empty());
    }
}

TEST_CASE("the file store serves both the virtual and the static path") {
    temp_log t("paths");
    std::vector<std::string> lines;
    kv::file_store s(t.str(), quiet(lines));
    cotrait::adapter<kv::storage, kv::file_store&> virt(s);
    kv::storage& v = virt;
    cotrait::sync_wait(v.set("x", "1"));
    cotrait::sync_wait(v.sync());
    CHECK(cotrait::sync_wait(s.get("x")) == std::optional<std::string>("1"));
    CHECK(cotrait::sync_wait(v.size()) == 1);
    CHECK(kv::parse_sync_mode("batch") == kv::sync_mode::batch);
    CHECK_FALSE(kv::parse_sync_mode("sometimes").has_value());
}

TEST_CASE("compaction runs when the log is mostly dead and keeps every live value") {
    temp_log t("compact_auto");
    std::vector<std::string> lines;
    kv::file_options o = quiet(lines);
    o.compact_min_bytes = 64 * 1024;
    std::map<std::string, std::string> model;
    {
        kv::file_store s(t.str(), o);
        for (int i = 0; i < 2000; ++i) {
            const std::string k = "key" + std::to_string(i % 20);
            const std::string v =
                std::string(static_cast<std::size_t>(100 + i % 200), 'v') + std::to_string(i);
            set(s, k, v);
            model[k] = v;
        }
        CHECK(cotrait::sync_wait(s.erase("key3")));
        model.erase("key3");
        CHECK(s.compactions() >= 5);
        CHECK(s.file_bytes() < 2 * o.compact_min_bytes);
        CHECK(contains(lines, "compacted"));
    }
    kv::file_store s(t.str(), quiet(lines));
    CHECK(s.snapshot() == model);
    CHECK_FALSE(fs::exists(kv::file_store::compaction_path(t.str())));
}

TEST_CASE("compaction killed by SIGKILL after each step loses nothing") {
    for (const char* step : {"written", "synced", "renamed", "dir_synced", "(none)"}) {
        INFO("killed after " << step);
        temp_log t(std::string("compact_kill_") + step);
        std::vector<std::string> lines;
        std::map<std::string, std::string> model;
        for (int i = 0; i < 300; ++i) {
            model["k" + std::to_string(i % 30)] = "value " + std::to_string(i);
        }
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // Child: build a mostly dead log, then compact with the kill hook armed.
            kv::file_options o;
            o.log = [](const std::string&) {};
            o.compaction_step = [step](std::string_view s) {
                if (s == step) {
                    ::raise(SIGKILL);
                }
            };
            o.compact_min_bytes = std::uint64_t{1} << 40; // only the explicit compact()
            kv::file_store s(t.str(), o);
            for (int i = 0; i < 300; ++i) {
                set(s, "k" + std::to_string(i % 30), "value " + std::to_string(i));
            }
            ::_exit(s.compact() ? 0 : 3);
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        if (std::string_view(step) == "(none)") {
            REQUIRE(WIFEXITED(status));
            CHECK(WEXITSTATUS(status) == 0);
        } else {
            REQUIRE(WIFSIGNALED(status));
            CHECK(WTERMSIG(status) == SIGKILL);
        }
        const std::uintmax_t before = fs::file_size(t.path);
        {
            kv::file_store s(t.str(), quiet(lines));
            CHECK(s.snapshot() == model);
            CHECK_FALSE(fs::exists(kv::file_store::compaction_path(t.str())));
            set(s, "after", "x");
            model["after"] = "x";
        }
        const bool compacted =
            std::string_view(step) != "written" && std::string_view(step) != "synced";
        CHECK((before < 2000) == compacted); // the uncompacted log holds 300 records
        CHECK(contains(lines, "interrupted compaction") == !compacted);
        kv::file_store s(t.str(), quiet(lines));
        CHECK(s.snapshot() == model);
    }
}
