// expect-error: syntax_error_write_each_parameter_as_parenthesised_type_then_name
// Parameters are `(type) name` pairs; a plain declaration gets an error that says so.
#include <cotrait/interface.hpp>

ASYNC_INTERFACE(Counter, (add, (int), (int step)));

int main() {
    return 0;
}
