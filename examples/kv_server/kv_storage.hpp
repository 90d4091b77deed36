// The key-value service's storage: an async interface and two implementations, one in memory and
// one that also appends every change to a log file and replays it when reopened.
#pragma once

#include <cotrait/interface.hpp>
#include <cotrait/static_task.hpp>

#include <cstddef>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace kv {

// The storage the server talks to. The string_view parameters must stay valid until the returned
// task has completed: the server always awaits a call in the statement that makes it.
ASYNC_INTERFACE(storage, (get, (std::optional<std::string>), ((std::string_view)key)),
                (set, (void), ((std::string_view)key, (std::string_view)value)),
                (erase, (bool), ((std::string_view)key)), (size, (std::size_t), ()));

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

// In memory, and every change appended to a log file ("S <key> <value>" / "D <key>" lines,
// flushed after each write), which the constructor replays: reopening the file restores the data.
// Keys never contain spaces or line breaks and values never contain line breaks (the protocol
// rejects them), so the log needs no escaping. Writes complete before the task does.
class file_store : public memory_store {
public:
    explicit file_store(std::string path) : path_(std::move(path)) {
        replay();
        log_.open(path_, std::ios::binary | std::ios::app);
        if (!log_) {
            throw std::runtime_error("kv: cannot open " + path_);
        }
    }

    cotrait::static_task<void> set(std::string_view key, std::string_view value) {
        std::lock_guard<std::mutex> lock(mutex_);
        log_ << "S " << key << ' ' << value << '\n';
        log_.flush();
        if (!log_) {
            throw std::runtime_error("kv: write to " + path_ + " failed");
        }
        put(key, value);
        co_return;
    }

    cotrait::static_task<bool> erase(std::string_view key) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (map_.find(key) == map_.end()) {
            co_return false;
        }
        log_ << "D " << key << '\n';
        log_.flush();
        if (!log_) {
            throw std::runtime_error("kv: write to " + path_ + " failed");
        }
        co_return remove(key);
    }

private:
    void replay() {
        std::ifstream in(path_, std::ios::binary);
        std::string line;
        while (std::getline(in, line)) {
            if (line.size() > 2 && line[0] == 'S' && line[1] == ' ') {
                const std::size_t sp = line.find(' ', 2);
                if (sp != std::string::npos) {
                    put(std::string_view(line).substr(2, sp - 2),
                        std::string_view(line).substr(sp + 1));
                }
            } else if (line.size() > 2 && line[0] == 'D' && line[1] == ' ') {
                remove(std::string_view(line).substr(2));
            }
            // Anything else is a torn last line from a crash: ignored.
        }
    }

    std::string path_;
    std::ofstream log_;
};

} // namespace kv
