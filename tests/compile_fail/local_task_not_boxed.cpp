// expect-error: conversion from '[^']*local_task<int>' to (non-scalar type )?'[^']*boxed_task<int>'
// A thread-affine task cannot be turned back into a boxed_task that another thread could own.
#include <cotrait/local_task.hpp>

cotrait::local_task<int> local() {
    co_return 1;
}

int main() {
    cotrait::boxed_task<int> escaped = local();
    return escaped.valid() ? 0 : 1;
}
