// The key-value service's storage: an async interface and two implementations, one in memory and
// one that also appends every change to a checksummed log file and replays it when reopened.
#pragma once

#include "kv_log.hpp"

#include <cotrait/interface.hpp>
#include <cotrait/static_task.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kv {

// The storage the server talks to. The string_view parameters must stay valid until the returned
// task has completed: the server always awaits a call in the statement that makes it. `clear`
// removes every key (FLUSHDB). `sync`
// makes every completed write durable (as far as the store's sync mode promises); the server
// calls it before sending the replies of a batch of requests.
ASYNC_INTERFACE(storage, (get, (std::optional<std::string>), ((std::string_view)key)),
                (set, (void), ((std::string_view)key, (std::string_view)value)),
                (erase, (bool), ((std::string_view)key)), (size, (std::size_t), ()),
                (clear, (void), ()), (sync, (void), ()));

// Transparent hashing, so lookups by string_view do not build a std::string.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
using string_map = std::unordered_map<std::string, std::string, string_hash, std::equal_to<>>;

// In memory. The methods return static_task, so the type can be called directly (the static path)
// or wrapped in cotrait::adapter<kv::storage, memory_store&> for the virtual one. Thread-safe.
class memory_store {
public:
    cotrait::static_task<std::optional<std::string>> get(std::string_view key) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = map_.find(key);
        if (it == map_.end()) {
            co_return std::nullopt;
        }
        co_return it->second;
    }

    cotrait::static_task<void> set(std::string_view key, std::string_view value) {
        std::lock_guard<std::mutex> lock(mutex_);
        put(key, value);
        co_return;
    }

    cotrait::static_task<bool> erase(std::string_view key) {
        std::lock_guard<std::mutex> lock(mutex_);
        co_return remove(key);
    }

    cotrait::static_task<std::size_t> size() {
        std::lock_guard<std::mutex> lock(mutex_);
        co_return map_.size();
    }

    cotrait::static_task<void> clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        map_.clear();
        co_return;
    }

    /// Nothing to make durable.
    cotrait::static_task<void> sync() { co_return; }

    /// A copy of the contents (for checks).
    [[nodiscard]] std::map<std::string, std::string> snapshot() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return {map_.begin(), map_.end()};
    }

protected:
    void put(std::string_view key, std::string_view value) {
        auto it = map_.find(key);
        if (it != map_.end()) {
            it->second.assign(value);
        } else {
            map_.emplace(std::string(key), std::string(value));
        }
    }
    bool remove(std::string_view key) {
        auto it = map_.find(key);
        if (it == map_.end()) {
            return false;
        }
        map_.erase(it);
        return true;
    }

    mutable std::mutex mutex_;
    string_map map_;
};

/// When a write to the file store is durable (docs/execution.md, "Sync modes").
enum class sync_mode {
    none,   ///< after write(): survives a crash of the process, not of the machine
    batch,  ///< group commit: one fdatasync covers the writes of every connection waiting in sync()
    always, ///< fdatasync after every record, before the write completes
};

/// Parses "none" / "batch" / "always".
inline std::optional<sync_mode> parse_sync_mode(std::string_view s) noexcept {
    if (s == "none") {
        return sync_mode::none;
    }
    if (s == "batch") {
        return sync_mode::batch;
    }
    if (s == "always") {
        return sync_mode::always;
    }
    return std::nullopt;
}

/// How a file_store behaves.
struct file_options {
    sync_mode sync = sync_mode::none;
    /// On a corrupt record in the middle of the log, keep the valid prefix (the rest is saved to
    /// `<path>.dropped`) instead of refusing to open.
    bool repair = false;
    /// Compaction runs when the log is at least this large and more than half of it is dead.
    std::uint64_t compact_min_bytes = std::uint64_t{4} << 20;
    /// Where diagnostics go (one line each, without "\n"); stderr when empty.
    std::function<void(const std::string&)> log;
    /// Test hook: called after each compaction step ("written", "synced", "renamed",
    /// "dir_synced") so that a test can kill the process there.
    std::function<void(std::string_view)> compaction_step;
    /// Test hook: called on the flusher thread (sync_mode::batch) before each group commit picks
    /// the writes it covers, so that a test can hold it back.
    std::function<void()> before_sync;
    /// Test hook: called by a sync() caller that has queued itself for the flusher and released
    /// the store's lock; its coroutine may already have been resumed (and finished) by then.
    std::function<void()> after_sync_queued;
};

// In memory, and every change appended to a log file of checksummed records (kv_log.hpp), which
// the constructor replays: reopening the file restores the data. A write completes only after
// its record is in the file (and synced, with sync_mode::always); a write that fails is rolled
// back and not applied. The log is compacted into a new file when it is mostly dead.
//
// With sync_mode::batch, sync() is a group commit: a flusher thread runs one fdatasync for
// every coroutine waiting in sync() at the time (from any number of connections and threads),
// while writes go on; a waiter is resumed, on the flusher thread, once an fdatasync that began
// after its writes has returned.
class file_store : public memory_store {
public:
    /// Opens (or creates) the log at `path` and replays it. Throws std::runtime_error on an
    /// unreadable file or a corrupt record before the last one (unless `opt.repair`).
    explicit file_store(std::string path, file_options opt = {})
        : path_(std::move(path)), opt_(std::move(opt)) {
        remove_stale_compaction();
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            throw std::runtime_error(sys_message("cannot open " + path_));
        }
        try {
            replay();
            if (opt_.sync == sync_mode::batch) {
                flusher_ = std::thread([this] { flush_loop(); });
            }
        } catch (...) {
            ::close(fd_);
            throw;
        }
    }
    /// Serves the coroutines still waiting in sync(), then stops the flusher.
    ~file_store() {
        if (flusher_.joinable()) {
            {
                const std::lock_guard<std::mutex> lock(mutex_);
                stop_flusher_ = true;
            }
            flush_cv_.notify_one();
            flusher_.join();
        }
        ::close(fd_);
    }
    file_store(const file_store&) = delete;
    file_store& operator=(const file_store&) = delete;

    cotrait::static_task<void> set(std::string_view key, std::string_view value) {
        std::lock_guard<std::mutex> lock(mutex_);
        append('S', key, value);
        if (auto it = map_.find(key); it != map_.end()) {
            live_bytes_ -= log::record_size(key.size(), it->second.size());
        }
        live_bytes_ += log::record_size(key.size(), value.size());
        put(key, value);
        maybe_compact();
        co_return;
    }

    cotrait::static_task<bool> erase(std::string_view key) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = map_.find(key);
        if (it == map_.end()) {
            co_return false;
        }
        append('D', key, {});
        live_bytes_ -= log::record_size(key.size(), it->second.size());
        map_.erase(it);
        maybe_compact();
        co_return true;
    }

    cotrait::static_task<void> clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (map_.empty()) {
            co_return;
        }
        append('C', {}, {});
        map_.clear();
        live_bytes_ = log::file_magic.size();
        maybe_compact();
        co_return;
    }

    /// With sync_mode::batch, completes once every write completed before the call is on disk
    /// (a group commit shared with the other callers waiting; see the class comment), possibly
    /// on the flusher thread. Throws std::runtime_error if an fdatasync failed.
    cotrait::static_task<void> sync() {
        if (opt_.sync == sync_mode::batch) {
            co_await durable{*this};
        }
    }

    /// fdatasync calls made for sync() (batch mode) since open.
    [[nodiscard]] std::size_t group_commits() const noexcept { return group_commits_.load(); }
    /// Records appended since open.
    [[nodiscard]] std::uint64_t writes() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return written_seq_;
    }

    /// Rewrites the log with only the live records (crash-safe). Returns false (and logs why)
    /// if it could not, in which case the old log stays in use.
    bool compact() {
        std::lock_guard<std::mutex> lock(mutex_);
        return compact_locked();
    }

    /// Bytes in the log file, and bytes its live records would take after compaction.
    [[nodiscard]] std::uint64_t file_bytes() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return end_;
    }
    [[nodiscard]] std::uint64_t live_bytes() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return live_bytes_;
    }
    /// Compactions completed since open.
    [[nodiscard]] std::size_t compactions() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return compactions_;
    }

    /// The path of the temporary file a compaction writes before renaming it over the log.
    [[nodiscard]] static std::string compaction_path(const std::string& path) {
        return path + ".compact";
    }

private:
    static std::string sys_message(const std::string& what) {
        return "kv: " + what + ": " + std::strerror(errno);
    }

    void say(const std::string& line) const {
        if (opt_.log) {
            opt_.log(line);
        } else {
            std::fprintf(stderr, "%s\n", line.c_str());
        }
    }

    [[noreturn]] void fail(const std::string& why) {
        broken_ = why;
        throw std::runtime_error(why);
    }

    // A coroutine in sync(): resumed once durable_seq_ >= seq, or with sync_error_ set.
    struct sync_waiter {
        std::uint64_t seq = 0;
        std::coroutine_handle<> handle;
        bool failed = false;
    };

    struct durable {
        file_store& s;
        sync_waiter w{};
        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) {
            // Once the lock is released, a group commit already in flight may resume the
            // coroutine and free its frame (this awaiter included), and its owner may then
            // destroy the store: so the flusher is woken under the lock, and nothing is touched
            // after it but the test hook (whose test keeps the store alive).
            file_store& store = s;
            bool hook = false;
            {
                const std::lock_guard<std::mutex> lock(store.mutex_);
                if (!store.sync_error_.empty()) {
                    w.failed = true;
                    return false;
                }
                if (store.durable_seq_ >= store.written_seq_) {
                    return false; // nothing written since the last group commit
                }
                w.seq = store.written_seq_;
                w.handle = h;
                store.waiters_.push_back(&w);
                store.flush_cv_.notify_one();
                hook = static_cast<bool>(store.opt_.after_sync_queued);
            }
            if (hook) {
                store.opt_.after_sync_queued();
            }
            return true;
        }
        void await_resume() const {
            if (w.failed) {
                const std::lock_guard<std::mutex> lock(s.mutex_);
                throw std::runtime_error(s.sync_error_);
            }
        }
    };

    // The flusher: while coroutines wait, one fdatasync for all of them (and for any writes that
    // come in meanwhile: they wait for the next one). Appends go on during the fdatasync; only
    // compaction, which swaps the descriptor, waits for it (fd_mutex_).
    void flush_loop() {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            flush_cv_.wait(lock, [this] { return stop_flusher_ || !waiters_.empty(); });
            if (waiters_.empty()) {
                return; // stopping, and nobody waits
            }
            if (opt_.before_sync) {
                lock.unlock();
                opt_.before_sync();
                lock.lock();
            }
            const std::uint64_t target = written_seq_;
            if (durable_seq_ < target && sync_error_.empty()) {
                lock.unlock();
                int err = 0;
                {
                    const std::lock_guard<std::mutex> fd_lock(fd_mutex_);
                    if (::fdatasync(fd_) != 0) {
                        err = errno;
                    }
                }
                group_commits_.fetch_add(1);
                lock.lock();
                if (err != 0) {
                    // The page cache may have dropped the failed pages: nothing written since
                    // the last good sync can be trusted any more, so the store stops taking
                    // writes, and every waiter (now and later) gets the error.
                    errno = err;
                    sync_error_ = sys_message("fdatasync of " + path_ + " failed");
                    broken_ = sync_error_;
                    say(sync_error_);
                } else {
                    durable_seq_ = std::max(durable_seq_, target);
                }
            }
            std::vector<sync_waiter*> ready;
            auto keep = std::partition(waiters_.begin(), waiters_.end(), [this](sync_waiter* w) {
                return sync_error_.empty() && w->seq > durable_seq_;
            });
            for (auto it = keep; it != waiters_.end(); ++it) {
                (*it)->failed = !sync_error_.empty();
                ready.push_back(*it);
            }
            waiters_.erase(keep, waiters_.end());
            lock.unlock();
            for (sync_waiter* w : ready) {
                w->handle.resume();
            }
            lock.lock();
        }
    }

    // One write() per record, at the end of the valid log. Anything short of a complete record
    // is truncated away again, so a failed write is never replayed.
    void append(char type, std::string_view key, std::string_view value) {
        if (!broken_.empty()) {
            throw std::runtime_error("kv: " + path_ + " takes no writes after an I/O failure (" +
                                     broken_ + ")");
        }
        std::string rec;
        log::append_record(rec, type, key, value);
        ssize_t n = 0;
        do {
            n = ::pwrite(fd_, rec.data(), rec.size(), static_cast<off_t>(end_));
        } while (n < 0 && errno == EINTR);
        if (n != static_cast<ssize_t>(rec.size())) {
            const int err = n < 0 ? errno : ENOSPC; // a short write means the file is full
            rollback();
            errno = err;
            throw std::runtime_error(sys_message("write to " + path_ + " failed"));
        }
        if (opt_.sync == sync_mode::always && ::fdatasync(fd_) != 0) {
            const std::string msg = sys_message("fdatasync of " + path_ + " failed");
            rollback();
            fail(msg);
        }
        end_ += rec.size();
        ++written_seq_;
    }

    void rollback() {
        if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
            // The partial record stays in the file: appending after it would bury it in the
            // middle of the log, so no more writes.
            broken_ = sys_message("cannot truncate " + path_ + " back after a failed write");
            say(broken_);
        }
    }

    void read_all(std::string& bytes) {
        struct stat st {};
        if (::fstat(fd_, &st) != 0) {
            throw std::runtime_error(sys_message("cannot stat " + path_));
        }
        bytes.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < bytes.size()) {
            const ssize_t n =
                ::pread(fd_, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                throw std::runtime_error(sys_message("cannot read " + path_));
            }
            got += static_cast<std::size_t>(n);
        }
    }

    void truncate_to(std::uint64_t size) {
        if (::ftruncate(fd_, static_cast<off_t>(size)) != 0 || ::fsync(fd_) != 0) {
            throw std::runtime_error(sys_message("cannot truncate " + path_));
        }
    }

    void replay() {
        std::string bytes;
        read_all(bytes);
        const std::string_view magic = log::file_magic;
        if (bytes.size() < magic.size()) {
            if (magic.substr(0, bytes.size()) != bytes) {
                throw std::runtime_error("kv: " + path_ + " is not a kv log (bad header)");
            }
            if (!bytes.empty()) {
                say("kv: " + path_ + ": torn file header (" + std::to_string(bytes.size()) +
                    " bytes), rewritten");
            }
            if (::pwrite(fd_, magic.data(), magic.size(), 0) !=
                    static_cast<ssize_t>(magic.size()) ||
                ::fsync(fd_) != 0) {
                throw std::runtime_error(sys_message("cannot write to " + path_));
            }
            end_ = live_bytes_ = magic.size();
            return;
        }
        if (std::string_view(bytes).substr(0, magic.size()) != magic) {
            throw std::runtime_error("kv: " + path_ + " is not a kv log (bad header)");
        }
        std::size_t pos = magic.size();
        while (pos < bytes.size()) {
            log::record r;
            const std::string_view rest = std::string_view(bytes).substr(pos);
            const log::scan_status st = log::scan(rest, r);
            if (st == log::scan_status::ok) {
                if (r.type == 'S') {
                    put(r.key, r.value);
                } else if (r.type == 'D') {
                    remove(r.key);
                } else {
                    map_.clear();
                }
                pos += r.size;
                continue;
            }
            // An append interrupted by a crash leaves a record that runs past the end of the
            // file, or (after a power loss) a last record whose bytes never reached the disk.
            const bool tail = st == log::scan_status::torn ||
                              (st == log::scan_status::bad_crc &&
                               log::frame_bytes + log::get_u32(rest.data()) == rest.size());
            if (tail) {
                say("kv: " + path_ + ": torn record at offset " + std::to_string(pos) + " (" +
                    std::to_string(rest.size()) + " bytes, " + log::describe(st) + ") truncated");
            } else if (opt_.repair) {
                save_dropped(rest);
                say("kv: " + path_ + ": --repair: corrupt record at offset " + std::to_string(pos) +
                    " (" + log::describe(st) + "); kept " + std::to_string(pos) + " valid bytes, " +
                    std::to_string(rest.size()) + " bytes moved to " + path_ + ".dropped");
            } else {
                throw std::runtime_error(
                    "kv: " + path_ + ": corrupt record at offset " + std::to_string(pos) + " (" +
                    log::describe(st) + "), " + std::to_string(rest.size()) +
                    " bytes from there to the end; start with --repair to keep the " +
                    std::to_string(pos) + " valid bytes before it");
            }
            truncate_to(pos);
            break;
        }
        end_ = pos;
        live_bytes_ = magic.size();
        for (const auto& [k, v] : map_) {
            live_bytes_ += log::record_size(k.size(), v.size());
        }
    }

    void save_dropped(std::string_view rest) {
        const std::string out = path_ + ".dropped";
        std::FILE* f = std::fopen(out.c_str(), "wb");
        if (f == nullptr || std::fwrite(rest.data(), 1, rest.size(), f) != rest.size() ||
            std::fclose(f) != 0) {
            throw std::runtime_error(
                sys_message("--repair: cannot save the dropped bytes to " + out));
        }
    }

    void remove_stale_compaction() {
        const std::string tmp = compaction_path(path_);
        if (::unlink(tmp.c_str()) == 0) {
            say("kv: removed " + tmp + " left by an interrupted compaction");
        }
    }

    void maybe_compact() {
        if (end_ >= next_compaction_ && end_ >= opt_.compact_min_bytes && end_ > 2 * live_bytes_) {
            if (!compact_locked()) {
                // Do not retry on every write: wait until the log has grown by another minimum.
                next_compaction_ = end_ + opt_.compact_min_bytes;
            }
        }
    }

    void step(std::string_view name) {
        if (opt_.compaction_step) {
            opt_.compaction_step(name);
        }
    }

    // Write the live records to a new file, make it durable, rename it over the log, make the
    // rename durable. A crash before the rename leaves the old log (and a stale temporary file,
    // removed on open); after it, the new log, complete and synced.
    bool compact_locked() {
        if (!broken_.empty()) {
            return false;
        }
        const std::string tmp = compaction_path(path_);
        const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            say(sys_message("compaction: cannot create " + tmp));
            return false;
        }
        auto abandon = [&](const std::string& why) {
            say(sys_message("compaction of " + path_ + " abandoned: " + why));
            ::close(fd);
            ::unlink(tmp.c_str());
            return false;
        };
        std::string buf(log::file_magic);
        for (const auto& [k, v] : map_) {
            log::append_record(buf, 'S', k, v);
        }
        std::size_t done = 0;
        while (done < buf.size()) {
            const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return abandon("write");
            }
            done += static_cast<std::size_t>(n);
        }
        step("written");
        if (::fdatasync(fd) != 0) {
            return abandon("fdatasync");
        }
        step("synced");
        if (::rename(tmp.c_str(), path_.c_str()) != 0) {
            return abandon("rename");
        }
        step("renamed");
        const std::uint64_t before = end_;
        {
            const std::lock_guard<std::mutex> fd_lock(fd_mutex_); // not under the flusher's feet
            ::close(fd_);
            fd_ = fd;
        }
        end_ = buf.size();
        durable_seq_ = written_seq_; // the new log was synced whole
        ++compactions_;
        next_compaction_ = 0;
        std::filesystem::path dir = std::filesystem::path(path_).parent_path();
        if (dir.empty()) {
            dir = ".";
        }
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || ::fsync(dfd) != 0) {
            // The new log is complete either way; only the rename may not survive a power loss,
            // in which case the old (complete) log comes back.
            say(sys_message("compaction: cannot fsync directory " + dir.string()));
        }
        if (dfd >= 0) {
            ::close(dfd);
        }
        step("dir_synced");
        say("kv: compacted " + path_ + " from " + std::to_string(before) + " to " +
            std::to_string(end_) + " bytes");
        return true;
    }

    std::string path_;
    file_options opt_;
    int fd_ = -1;
    std::uint64_t end_ = 0;        // the valid log ends here; the next record goes here
    std::uint64_t live_bytes_ = 0; // what a compacted log would take
    std::uint64_t next_compaction_ = 0;
    std::size_t compactions_ = 0;
    std::string broken_; // why writes are refused, once an I/O failure made the log unsafe
    // Group commit (sync_mode::batch); guarded by mutex_ unless noted.
    std::uint64_t written_seq_ = 0; // records appended since open
    std::uint64_t durable_seq_ = 0; // of which an fdatasync (or a compaction) made durable
    std::vector<sync_waiter*> waiters_;
    std::string sync_error_; // a failed fdatasync: every sync() from then on throws it
    bool stop_flusher_ = false;
    std::condition_variable flush_cv_;
    std::mutex fd_mutex_; // the flusher's fdatasync vs compaction swapping fd_
    std::atomic<std::size_t> group_commits_{0};
    std::thread flusher_; // last: started once everything above exists
};

} // namespace kv
