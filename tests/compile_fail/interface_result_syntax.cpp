// expect-error: syntax_error_write_the_result_type_in_parentheses
// The result type is parenthesised (so that it may contain commas); a bare type is reported.
#include <cotrait/interface.hpp>

ASYNC_INTERFACE(Counter, (add, int, ((int)step)));

int main() {
    return 0;
}
