// The interface whose ASYNC_INTERFACE expansion tests/interface_snapshot/expected.txt records
// (tests/interface_snapshot/snapshot.py). It covers a required const method, a void method with
// two parameters and a provided method. Everything after the marker line is the snapshot.
#include <cotrait/interface.hpp>

#include <cstddef>

// cotrait-snapshot-begin
ASYNC_INTERFACE(Store, (get, (int), ((int)key) const), (put, (void), ((int)key, (int)value)),
                (size, (std::size_t), () const, { co_return 0; }));
